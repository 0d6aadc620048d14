#!/usr/bin/env bash
# Installs everything the tests need; idempotent, safe to run on every test run
# (a second run does no network work). Works on a fresh Debian machine as root.
#
#   Go modules              go mod download
(cd deploy && go mod download) # deploy/ is a module of its own (deploy/go.mod)
#   kcat                    Debian package, only when absent
#   Python clients          venv in $GREGOR_CACHE/venv: confluent-kafka 2.x, kafka-python 3.x
#   kafkajs                 npm ci in compat_test/js (package-lock.json is committed)
#   Java client             Maven project compat_test/java, built at each version
#                           `scripts/kafka.sh client-versions` prints, cached in ~/.m2
#   Apache Kafka broker     scripts/kafka.sh fetch (kafka_2.13 from Maven Central)
#   Streams, Connect        scripts/kafka.sh streams-classpath, connect-classpath
#   Kafka's tools           scripts/kafka.sh tools-classpath (kafka-tools, same version)
#   Docker                  scripts/install-docker.sh, when the ops owner has added it
#   busybox-static, bash-static   the container image's shell (scripts/build-image.sh)
#   chromium                Debian package: the web console's browser tests (console/, chromedp)
#   promtool                unpacked from Debian's prometheus package: deploy/'s alert tests
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${GREGOR_CACHE:-$HOME/.cache/gregor}"
mkdir -p "$CACHE"

go mod download

apt_updated=0
apt_install() {
	if [[ $apt_updated == 0 ]]; then
		apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Debian packages: kcat, and the toolchains the other clients need when the
# machine lacks them (the CI image has them; a bare Debian does not).
need=()
command -v kcat >/dev/null || need+=(kcat)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v npm >/dev/null || need+=(nodejs npm)
command -v mvn >/dev/null || need+=(maven)
command -v java >/dev/null || need+=(openjdk-17-jdk-headless)
command -v gcc >/dev/null || need+=(gcc libc6-dev) # cgo for confluent-kafka-go
# The container image's shell and tools (scripts/build-image.sh, deploy_test).
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
dpkg -s bash-static >/dev/null 2>&1 || need+=(bash-static)
# Headless Chromium for the web console's end-to-end tests (console/browser_test.go).
command -v chromium >/dev/null || need+=(chromium)
if ((${#need[@]})); then
	apt_install "${need[@]}"
fi

# promtool, Prometheus's rule checker, for deploy/metrics_test.go: unpacked
# from Debian's prometheus package into the cache, not installed (installing
# it would start a Prometheus server).
if ! command -v promtool >/dev/null && [[ ! -x $CACHE/promtool/usr/bin/promtool ]]; then
	if [[ $apt_updated == 0 ]]; then
		apt-get update -qq
		apt_updated=1
	fi
	tmp=$(mktemp -d)
	# Not fatal: without promtool only TestAlertRulesFire skips.
	if (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null) &&
		dpkg-deb -x "$tmp"/prometheus_*.deb "$CACHE/promtool"; then
		:
	else
		echo "install-deps: promtool unavailable; deploy's TestAlertRulesFire will skip" >&2
	fi
	rm -rf "$tmp"
fi

# Python clients, in a venv outside the repository; pip keeps its own cache.
VENV="$CACHE/venv"
PY_PKGS=(confluent-kafka==2.16.1 kafka-python==3.0.12)
if [[ ! -x "$VENV/bin/python" ]]; then
	python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" - "${PY_PKGS[@]}" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
then
	"$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PKGS[@]}"
fi

# kafkajs, exactly as locked.
if [[ ! -f compat_test/js/node_modules/kafkajs/package.json ]] ||
	! cmp -s compat_test/js/package-lock.json compat_test/js/node_modules/.package-lock.json.src 2>/dev/null; then
	(cd compat_test/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	cp compat_test/js/package-lock.json compat_test/js/node_modules/.package-lock.json.src
fi

# The Java client program, once per client version scripts/kafka.sh names
# (the reference version and the previous one), each in
# compat_test/java/target/<version>/: rebuilt only when its sources changed.
for kv in $(bash scripts/kafka.sh client-versions); do
	JAVA_STAMP=compat_test/java/target/$kv/.built
	if [[ ! -f $JAVA_STAMP ]] || [[ -n $(find compat_test/java/pom.xml compat_test/java/src -newer "$JAVA_STAMP" -print -quit) ]]; then
		offline=()
		[[ -d $HOME/.m2/repository/org/apache/kafka/kafka-clients/$kv ]] && offline=(-o)
		(cd compat_test/java && { mvn -q -B "${offline[@]}" package -DskipTests -Dkafka.version="$kv" ||
			mvn -q -B package -DskipTests -Dkafka.version="$kv"; })
		touch "$JAVA_STAMP"
	fi
done

# The reference broker, and kafka-tools (Kafka's command-line tools' main
# classes, which compat_test/kafkatools_test.go runs).
bash scripts/kafka.sh fetch
bash scripts/kafka.sh tools-classpath >/dev/null
# Kafka Streams and Kafka Connect (connect-runtime, connect-file) for the
# application scenarios (compat_test/streams_test.go, connect_test.go).
bash scripts/kafka.sh streams-classpath >/dev/null
bash scripts/kafka.sh connect-classpath >/dev/null

if [[ -f scripts/install-docker.sh ]]; then
	bash scripts/install-docker.sh
fi
