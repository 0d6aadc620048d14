#!/usr/bin/env bash
# Where a produced record's broker CPU goes (issue 14 item 2): the broker's
# CPU profile under the produce scenarios of scripts/bench.sh, for one or
# more builds side by side (before/after a change), written by the run.
#
#   scripts/profile-produce.sh [OUT]        results in OUT (default /tmp/gregor-profile-<time>)
#   REVS="d785f4f HEAD" scripts/profile-produce.sh
#
# For every round, scenario and build (interleaved, so the builds share the
# machine's noise): a fresh `gregor standalone` (async flush, --pprof), the
# topic created first, then `gregor bench produce` with bench.sh's client
# flags (1 KiB records, acks=all, linger 1 ms, idempotent) for WARMUP +
# DURATION; the broker's CPU profile (/debug/pprof/profile) covers the
# measured part, and with perf(1) usable (root, PERF=1, the default when it
# is) a `perf record -g` of the broker process over the same seconds shows
# the kernel's share by function too, which Go's profile lumps into
# Syscall6.
#
#   produce16     1 topic, 16 partitions (sticky partitioner: large batches)
#   produce10krr  10,000 partitions, round-robin partitioner (batches of
#                 about one record: per-batch cost)
#
# OUT/results.md names the commit of each build, the machine's load and
# the commands; it gives per run records/s and broker/client CPU per record
# (`gregor bench --broker-pid`: utime+stime of the broker over the measured
# part), and per build and scenario the top of the last round's profiles.
# With UPDATE_BENCHMARKS=1 it also goes into BENCHMARKS.md between the
# "profile-produce results" markers.
#
# Environment: REVS (HEAD), SCENARIOS (produce16 produce10krr), ROUNDS (2),
# DURATION (6s), WARMUP (2s), TOP (14), PERF (1 when perf works).
set -euo pipefail
cd "$(dirname "$0")/.."

REVS=${REVS:-HEAD}
SCENARIOS=${SCENARIOS:-"produce16 produce10krr"}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-6s}
WARMUP=${WARMUP:-2s}
TOP=${TOP:-14}
if [[ -z ${PERF:-} ]]; then
	PERF=0
	if command -v perf >/dev/null && perf record -o /dev/null -- true >/dev/null 2>&1; then PERF=1; fi
fi
OUT=${1:-/tmp/gregor-profile-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd)

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/profile.log" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}
secs() { local d=$1; d=${d%s}; echo "$d"; }

BROKER=
cleanup() {
	if [[ -n $BROKER ]]; then
		kill "$BROKER" 2>/dev/null || true
		wait "$BROKER" 2>/dev/null || true
	fi
}
trap cleanup EXIT

# Builds: each REV's tree (git archive) built into OUT/bin/<name>.
declare -A BIN COMMIT
NAMES=()
for rev in $REVS; do
	c=$(git rev-parse --short "$rev")
	name=$c
	src=$OUT/src-$c
	rm -rf "$src"
	mkdir -p "$src"
	git archive "$c" | tar -x -C "$src"
	log "building $rev ($c)"
	(cd "$src" && go build -o "$OUT/bin/$name" ./cmd/gregor)
	rm -rf "$src"
	BIN[$name]=$OUT/bin/$name
	COMMIT[$name]=$c
	NAMES+=("$name")
done

{
	echo "started: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true)"
	echo "load before: $(cat /proc/loadavg)"
	echo "builds: ${NAMES[*]}; rounds $ROUNDS, duration $DURATION, warmup $WARMUP, perf $PERF"
} >"$OUT/env.txt"

run() {
	local name=$1 scen=$2 round=$3 tag=$name-$scen-r$round
	local data=$OUT/data-$name port hport parts extra=()
	rm -rf "$data"
	port=$(free_port)
	hport=$(free_port)
	"${BIN[$name]}" standalone --data-dir "$data" --listeners "PLAINTEXT://127.0.0.1:$port" \
		--http.listener "127.0.0.1:$hport" --pprof --logger.level warn >>"$OUT/runs/$tag.log" 2>&1 &
	BROKER=$!
	wait_port "$port"
	case $scen in
	produce16) parts=16 ;;
	produce10krr) parts=10000 extra=(--partitioner round-robin) ;;
	esac
	"${BIN[$name]}" topic create -b "127.0.0.1:$port" --timeout 120s -p "$parts" "t-$scen" >>"$OUT/runs/$tag.log" 2>&1
	local cmd=("${BIN[$name]}" bench produce --brokers "127.0.0.1:$port" --broker-pid "$BROKER" --topic "t-$scen"
		--partitions "$parts" --record-size 1024 --acks all --linger 1ms --idempotent=true
		--duration "$DURATION" --warmup "$WARMUP" --json -q "${extra[@]}")
	echo "${cmd[*]}" >>"$OUT/commands.log"
	log "$tag"
	"${cmd[@]}" >"$OUT/runs/$tag.json" 2>>"$OUT/runs/$tag.log" &
	local bench=$! d
	d=$(secs "$DURATION")
	sleep "$(secs "$WARMUP")"
	sleep 0.3
	local prof=$((${d%.*} - 1))
	local perfpid=
	if [[ $PERF == 1 ]]; then
		perf record -F 499 -g -p "$BROKER" -o "$OUT/runs/$tag.perf" -- sleep "$prof" >/dev/null 2>&1 &
		perfpid=$!
	fi
	curl -fsS -o "$OUT/runs/$tag.pprof" "http://127.0.0.1:$hport/debug/pprof/profile?seconds=$prof" || log "$tag: no profile"
	wait "$bench" || log "$tag: bench exit $?"
	[[ -z $perfpid ]] || wait "$perfpid" || true
	kill "$BROKER" 2>/dev/null || true
	wait "$BROKER" 2>/dev/null || true
	BROKER=
	rm -rf "$data"
}

for round in $(seq 1 "$ROUNDS"); do
	for scen in $SCENARIOS; do
		for name in "${NAMES[@]}"; do
			run "$name" "$scen" "$round"
		done
	done
done
echo "load after: $(cat /proc/loadavg)" >>"$OUT/env.txt"

# The report.
{
	echo "Written by \`scripts/profile-produce.sh\` (REVS=\"$REVS\" ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP), $(date -u +%Y-%m-%d):"
	echo "$(grep -E '^(cpus|load before|load after)' "$OUT/env.txt" | tr '\n' ';' | sed 's/;$//; s/;/; /g')."
	echo "Builds: $(for n in "${NAMES[@]}"; do printf '%s ' "${COMMIT[$n]}"; done)(in that order in every round)."
	echo
	echo "| scenario | build | round | records/s | broker CPU µs/record | client CPU µs/record |"
	echo "|---|---|---|---|---|---|"
	for scen in $SCENARIOS; do
		for name in "${NAMES[@]}"; do
			for round in $(seq 1 "$ROUNDS"); do
				python3 - "$OUT/runs/$name-$scen-r$round.json" "$scen" "${COMMIT[$name]}" "$round" <<'EOF'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
    print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {s['records_per_sec']:,.0f} | "
          f"{s.get('broker_cpu_us_per_record', float('nan')):.2f} | {s.get('client_cpu_us_per_record', float('nan')):.2f} |")
except Exception as e:
    print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | failed ({e}) | | |")
EOF
			done
		done
	done
	for scen in $SCENARIOS; do
		for name in "${NAMES[@]}"; do
			tag=$name-$scen-r$ROUNDS
			echo
			echo "**$scen, ${COMMIT[$name]}** (round $ROUNDS): Go profile of the broker, top $TOP gregor functions by cumulative share (Syscall6 is every system call)"
			echo '```'
			go tool pprof -top -cum -nodecount="$TOP" -show 'gregor-broker|Syscall6$' "${BIN[$name]}" "$OUT/runs/$tag.pprof" 2>/dev/null |
				sed -n '/flat%/,$p' | sed 's#github.com/gregor-broker/gregor/##' | cut -c1-160 || echo "(no profile)"
			echo '```'
			if [[ -f $OUT/runs/$tag.perf ]]; then
				echo "perf (user and kernel), top $TOP by own share:"
				echo '```'
				perf report -i "$OUT/runs/$tag.perf" --no-children --sort sym --stdio 2>/dev/null |
					grep -E '^ +[0-9]+\.[0-9]+%' | head -n "$TOP" | cut -c1-160
				echo '```'
			fi
		done
	done
} >"$OUT/results.md"
cat "$OUT/results.md"

if [[ ${UPDATE_BENCHMARKS:-0} == 1 ]]; then
	python3 - "$OUT/results.md" BENCHMARKS.md <<'EOF'
import sys
rep, path = open(sys.argv[1]).read().rstrip("\n"), sys.argv[2]
doc = open(path).read()
b, e = "<!-- profile-produce results: begin -->", "<!-- profile-produce results: end -->"
if b not in doc or e not in doc:
    sys.exit(f"{path}: no profile-produce markers")
i, j = doc.index(b) + len(b), doc.index(e)
open(path, "w").write(doc[:i] + "\n" + rep + "\n" + doc[j:])
EOF
	log "BENCHMARKS.md updated"
fi
