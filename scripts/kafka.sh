#!/usr/bin/env bash
# Fetches Apache Kafka (kafka_2.13 and its dependencies) from Maven Central into
# a cache, and runs one single-node KRaft broker on a loopback port. Used by the
# compatibility suite (compat_test/) and the benchmarks as the reference broker.
#
#   kafka.sh fetch                 download the jars once (cached; fast afterwards)
#   kafka.sh classpath             print the classpath of the cached jars
#   kafka.sh start PORT DIR        format DIR as one KRaft node (broker+controller)
#                                  listening on 127.0.0.1:PORT, start it in the
#                                  background (pid in DIR/kafka.pid, log in
#                                  DIR/kafka.log) and wait until it serves
#   kafka.sh stop DIR              stop the broker started in DIR
#   kafka.sh tools-classpath       the classpath above plus kafka-tools (the
#                                  admin commands' main classes, e.g.
#                                  org.apache.kafka.tools.LeaderElectionCommand;
#                                  its jar alone, fetched once)
#   kafka.sh streams-classpath     the classpath of kafka-streams with its
#                                  dependencies (rocksdbjni …) and a log4j2
#                                  backend, fetched once into streams/; the
#                                  compat suite's Streams application
#                                  (compat_test/java, StreamsApp) runs on it
#   kafka.sh connect-classpath     the classpath of connect-runtime and
#                                  connect-file (at KAFKA_CONNECT_VERSION)
#                                  with their dependencies and a log4j2
#                                  backend, fetched once into
#                                  connect-<version>/; a distributed worker
#                                  runs as java -cp "$(kafka.sh connect-classpath)"
#                                  org.apache.kafka.connect.cli.ConnectDistributed
#   kafka.sh connect-version       print KAFKA_CONNECT_VERSION
#   kafka.sh version               print KAFKA_VERSION (the reference broker's
#                                  and the first Java client's version)
#   kafka.sh client-versions       print the Java client versions the suite
#                                  builds and runs: KAFKA_VERSION, then
#                                  KAFKA_JAVA_CLIENT_PREV (one per line)
#
# The reference version is this one setting: install-deps.sh builds the Java
# client of compat_test/java at each client version (target/<version>/), and
# compat_test asks this script which versions to run.
#
# Environment: KAFKA_VERSION (default 4.4.0; 4.0.0 rejects the JoinGroup
# versions kafka-go sends, so use 4.1 or later), KAFKA_JAVA_CLIENT_PREV
# (default 4.1.1, the second Java client; empty for none),
# KAFKA_CONNECT_VERSION (default 4.3.1, connect-classpath), GREGOR_CACHE (default
# $HOME/.cache/gregor), KAFKA_HEAP (default 768m), KAFKA_EXTRA_PROPS (extra
# server.properties lines, newline separated), KAFKA_EXTRA_LISTENERS (more
# NAME:PROTOCOL@host:port listeners, comma separated, e.g.
# SASL_PLAINTEXT:SASL_PLAINTEXT@127.0.0.1:9093; each is added to listeners,
# advertised.listeners and listener.security.protocol.map, and its ssl.* /
# sasl.* settings come through KAFKA_EXTRA_PROPS; the PLAINTEXT listener
# stays as it is).
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_JAVA_CLIENT_PREV="${KAFKA_JAVA_CLIENT_PREV-4.1.1}"
# connect-file (FileStreamSource/Sink) is not on Maven Central at 4.4.0 (the
# newest there is 4.3.1), and connect-file 4.3.1 does not run on
# kafka-clients 4.4.0 (AppInfoParser moved): Connect runs at this version,
# connect-runtime and connect-file alike, against the 4.4.0 broker.
KAFKA_CONNECT_VERSION="${KAFKA_CONNECT_VERSION:-4.3.1}"
CACHE="${GREGOR_CACHE:-$HOME/.cache/gregor}"
HOME_DIR="$CACHE/kafka-$KAFKA_VERSION"
LIBS="$HOME_DIR/libs"

fetch() {
	if [[ -f "$LIBS/.complete" ]]; then
		return 0
	fi
	mkdir -p "$HOME_DIR"
	# A throwaway project whose only job is to resolve kafka_2.13 and copy it
	# with every runtime dependency into libs/ (Maven keeps its own cache in
	# ~/.m2, so a second fetch after a wiped libs/ needs no network).
	cat >"$HOME_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>gregor.compat</groupId>
  <artifactId>kafka-server-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- log4j2 backend so the broker's log goes to kafka.log at INFO -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>2.24.3</version>
    </dependency>
  </dependencies>
</project>
EOF
	rm -rf "$LIBS"
	mvn -q -B -f "$HOME_DIR/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$LIBS" -DincludeScope=runtime >&2
	touch "$LIBS/.complete"
}

classpath() {
	fetch
	echo "$LIBS/*"
}

# free_port prints a loopback TCP port nobody listens on right now.
free_port() {
	python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

wait_port() {
	local port=$1 pid=$2 log=$3
	for _ in $(seq 1 600); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "kafka.sh: broker exited during start-up; tail of $log:" >&2
			tail -n 40 "$log" >&2 || true
			return 1
		fi
		sleep 0.2
	done
	echo "kafka.sh: broker did not listen on $port within 120s" >&2
	return 1
}

start() {
	local port=${1:?usage: kafka.sh start PORT DIR} dir=${2:?usage: kafka.sh start PORT DIR}
	fetch
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	local cport
	cport=$(free_port)
	local xl="" xa="" xm=""
	if [[ -n "${KAFKA_EXTRA_LISTENERS:-}" ]]; then
		local e name proto addr
		IFS=',' read -r -a extra <<<"$KAFKA_EXTRA_LISTENERS"
		for e in "${extra[@]}"; do
			name=${e%%:*}
			proto=${e#*:}
			proto=${proto%%@*}
			addr=${e#*@}
			xl+=",$name://$addr"
			xa+=",$name://$addr"
			xm+=",$name:$proto"
		done
	fi
	# Short group timings so the client matrix runs fast; the rest is Kafka's
	# single-node quick-start.
	cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$xl
advertised.listeners=PLAINTEXT://127.0.0.1:$port$xa
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$xm
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
group.consumer.heartbeat.interval.ms=500
group.consumer.min.heartbeat.interval.ms=100
group.consumer.session.timeout.ms=10000
group.consumer.min.session.timeout.ms=1000
log.flush.interval.messages=9223372036854775807
${KAFKA_EXTRA_PROPS:-}
EOF
	cat >"$dir/log4j2.properties" <<EOF
status=warn
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=$dir/kafka.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=FILE
EOF
	# KAFKA_JVM_OPTS (added for the benchmarks) replaces the start-up-speed
	# flags below, e.g. with kafka-server-start.sh's defaults
	# "-Xmx1G -Xms1G -XX:+UseG1GC -XX:MaxGCPauseMillis=20".
	local jvm_opts=(-Xmx"${KAFKA_HEAP:-768m}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1)
	if [[ -n "${KAFKA_JVM_OPTS:-}" ]]; then
		read -r -a jvm_opts <<<"$KAFKA_JVM_OPTS"
	fi
	local java_opts=("${jvm_opts[@]}"
		-Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties")
	if [[ ! -f "$dir/data/meta.properties" ]]; then
		# A fixed cluster id: the node is thrown away with its folder.
		java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
			-t 4L6g3nShT-eMCtK--X86sw -c "$dir/server.properties" >"$dir/format.log" 2>&1 || {
			cat "$dir/format.log" >&2
			return 1
		}
	fi
	nohup java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
		>"$dir/kafka.out" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$dir/kafka.pid"
	wait_port "$port" "$pid" "$dir/kafka.log"
}

tools_classpath() {
	fetch
	local jar="$HOME_DIR/tools/kafka-tools-$KAFKA_VERSION.jar"
	if [[ ! -f "$jar" ]]; then
		# Its dependencies are the broker's, already in libs/.
		mvn -q -B dependency:copy -Dartifact="org.apache.kafka:kafka-tools:$KAFKA_VERSION" \
			-DoutputDirectory="$HOME_DIR/tools" >&2
	fi
	echo "$LIBS/*:$jar"
}

# apps_fetch NAME GROUP:ARTIFACT[:VERSION]… resolves the artifacts (at
# KAFKA_VERSION unless one names its own) with
# every runtime dependency and a log4j2 backend into $HOME_DIR/NAME/libs, once
# (a .complete marker, as fetch keeps), and prints that classpath. Kept apart
# from the broker's libs/ so an application runs on its own jars only.
apps_fetch() {
	local name=$1
	shift
	local dir="$HOME_DIR/$name"
	if [[ ! -f "$dir/libs/.complete" ]]; then
		mkdir -p "$dir"
		local deps="" a
		for a in "$@"; do
			local g=${a%%:*} rest=${a#*:} v=$KAFKA_VERSION
			if [[ $rest == *:* ]]; then
				v=${rest#*:}
				rest=${rest%%:*}
			fi
			deps+="    <dependency><groupId>$g</groupId><artifactId>$rest</artifactId><version>$v</version></dependency>
"
		done
		cat >"$dir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>gregor.compat</groupId>
  <artifactId>kafka-$name-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
$deps    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>2.24.3</version>
    </dependency>
  </dependencies>
</project>
EOF
		rm -rf "$dir/libs"
		mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies \
			-DoutputDirectory="$dir/libs" -DincludeScope=runtime >&2
		touch "$dir/libs/.complete"
	fi
	echo "$dir/libs/*"
}

stop() {
	local dir=${1:?usage: kafka.sh stop DIR}
	[[ -f "$dir/kafka.pid" ]] || return 0
	local pid
	pid=$(cat "$dir/kafka.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/kafka.pid"
}

client_versions() {
	echo "$KAFKA_VERSION"
	if [[ -n $KAFKA_JAVA_CLIENT_PREV && $KAFKA_JAVA_CLIENT_PREV != "$KAFKA_VERSION" ]]; then
		echo "$KAFKA_JAVA_CLIENT_PREV"
	fi
}

case "${1:-}" in
fetch) fetch ;;
version) echo "$KAFKA_VERSION" ;;
client-versions) client_versions ;;
classpath) classpath ;;
tools-classpath) tools_classpath ;;
streams-classpath) apps_fetch streams org.apache.kafka:kafka-streams ;;
connect-classpath) apps_fetch "connect-$KAFKA_CONNECT_VERSION" "org.apache.kafka:connect-runtime:$KAFKA_CONNECT_VERSION" \
	"org.apache.kafka:connect-file:$KAFKA_CONNECT_VERSION" ;;
connect-version) echo "$KAFKA_CONNECT_VERSION" ;;
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
*)
	echo "usage: kafka.sh fetch | classpath | tools-classpath | streams-classpath | connect-classpath | connect-version | start PORT DIR | stop DIR | version | client-versions" >&2
	exit 2
	;;
esac
