#!/usr/bin/env bash
# Side-by-side benchmark of gregor, Apache Kafka 4.x (one KRaft node, via
# scripts/kafka.sh) and kfake (franz-go's fake cluster, its own process), in
# the OpenMessaging Benchmark shape; BENCHMARKS.md quotes what it prints.
#
#   scripts/bench.sh [OUT]      results in OUT (default /tmp/gregor-bench-<time>)
#
# OUT/results.md is the whole report, written by this run, naming the commit
# it ran on (git rev-parse HEAD; "+ uncommitted changes" when the tree
# differs). With UPDATE_BENCHMARKS=1 the run also puts that report into
# BENCHMARKS.md between its "bench.sh results" markers: the figures there are
# only ever written by a run, never by hand.
#
# Every round runs each scenario against each target before the next
# scenario, so the targets interleave and share the machine's noise:
#
#   produce16   1 topic, 16 partitions, 1 KiB records, acks=all, linger 1 ms,
#               unthrottled, WARMUP + DURATION
#   consume16   read produce16's topic from the start (then delete it)
#   produce10k  produce16 with 10,000 partitions
#   e2e         16 partitions at a fixed E2E_RATE records/s, producer→consumer
#   ackfloor    produce at E2E_RATE to kfake --blackhole: the client's own floor
#
# Targets: gregor (async flush), gregor-sync (log.flush.mode=sync, produce16
# only), kafka, kfake, blackhole (kfake acknowledging without storing;
# produce16 and ackfloor only). gregor restarts with empty data each round so
# its disk use stays bounded. Kafka runs with kafka-server-start.sh's JVM
# defaults (KAFKA_JVM_OPTS) rather than kafka.sh's start-up-speed flags.
#
# Environment: ROUNDS (3), DURATION (10s), WARMUP (2s), BIG_PARTITIONS
# (10000), E2E_RATE (20000), TARGETS (all of the above), SCENARIOS (all),
# IDEMPOTENT (true, Kafka's producer default; false for every target),
# PRODUCERS and CONSUMERS (1 client each, as OpenMessaging's workloads).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
BIG_PARTITIONS=${BIG_PARTITIONS:-10000}
E2E_RATE=${E2E_RATE:-20000}
TARGETS=${TARGETS:-"gregor gregor-sync kafka kfake blackhole"}
SCENARIOS=${SCENARIOS:-"produce16 consume16 produce10k e2e ackfloor"}
IDEMPOTENT=${IDEMPOTENT:-true}
PRODUCERS=${PRODUCERS:-1}
CONSUMERS=${CONSUMERS:-1}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:-"-Xmx1G -Xms1G -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent"}
OUT=${1:-/tmp/gregor-bench-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
BIN=$OUT/bin/gregor

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/bench.log" >&2; }

has() { [[ " $1 " == *" $2 "* ]]; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	log "nothing listens on $1"
	return 1
}

declare -A ADDR PID
STARTED=()

cleanup() {
	for name in "${STARTED[@]}"; do stop_target "$name"; done
}
trap cleanup EXIT

start_target() {
	local name=$1 port
	port=$(free_port)
	ADDR[$name]=127.0.0.1:$port
	case $name in
	gregor | gregor-sync)
		local mode=async
		[[ $name == gregor-sync ]] && mode=sync
		rm -rf "${OUT:?}/$name"
		mkdir -p "$OUT/$name"
		"$BIN" standalone --data-dir "$OUT/$name/data" --listeners "PLAINTEXT://127.0.0.1:$port" \
			--http.listener "127.0.0.1:$(free_port)" --pprof --log.flush.mode "$mode" \
			--logger.level warn >>"$OUT/$name.log" 2>&1 &
		PID[$name]=$!
		;;
	kfake | blackhole)
		local extra=()
		[[ $name == blackhole ]] && extra=(--blackhole)
		"$BIN" bench kfake --listen "127.0.0.1:$port" "${extra[@]}" >>"$OUT/$name.log" 2>&1 &
		PID[$name]=$!
		;;
	kafka)
		rm -rf "${OUT:?}/kafka"
		KAFKA_JVM_OPTS=$KAFKA_JVM_OPTS scripts/kafka.sh start "$port" "$OUT/kafka" >>"$OUT/kafka-start.log" 2>&1
		PID[$name]=$(cat "$OUT/kafka/kafka.pid")
		;;
	esac
	wait_port "$port"
	STARTED+=("$name")
	log "started $name on ${ADDR[$name]} (pid ${PID[$name]})"
}

stop_target() {
	local name=$1
	[[ -n "${PID[$name]:-}" ]] || return 0
	if [[ $name == kafka ]]; then
		scripts/kafka.sh stop "$OUT/kafka" || true
	else
		kill "${PID[$name]}" 2>/dev/null || true
		wait "${PID[$name]}" 2>/dev/null || true
	fi
	PID[$name]=
	local rest=()
	for s in "${STARTED[@]}"; do [[ $s == "$name" ]] || rest+=("$s"); done
	STARTED=("${rest[@]}")
}

# bench NAME TARGET ARGS…: one run, its JSON summary in runs/NAME.json.
bench() {
	local name=$1 target=$2
	shift 2
	local cmd=("$BIN" bench "$@" --brokers "${ADDR[$target]}" --broker-pid "${PID[$target]}" --json -q)
	echo "${cmd[*]}" >>"$OUT/commands.log"
	log "$name"
	"${cmd[@]}" >"$OUT/runs/$name.json" 2>>"$OUT/runs/$name.err" || log "$name: exit $? ($(tail -n 1 "$OUT/runs/$name.err"))"
}

disk() {
	# Sequential write with one fdatasync at the end, as the page cache
	# would flush it; the figure goes beside the results.
	dd if=/dev/zero of="$OUT/dd.tmp" bs=1M count=1024 conv=fdatasync 2>&1 | tail -n 1 | tee -a "$OUT/disk.txt" >&2
	rm -f "$OUT/dd.tmp"
}

log "building gregor"
mkdir -p "$OUT/bin"
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no -- . ':(exclude)BENCHMARKS.md' 2>/dev/null) ]]; then
	COMMIT="$COMMIT + uncommitted changes"
fi
go build -o "$BIN" ./cmd/gregor
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
	echo "date: $(date -u)"
	echo "commit: $COMMIT"
	echo "cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true)"
	echo "load before: $(cat /proc/loadavg)"
	echo "rounds $ROUNDS, duration $DURATION, warmup $WARMUP, big partitions $BIG_PARTITIONS, e2e rate $E2E_RATE, idempotent $IDEMPOTENT, producers $PRODUCERS, consumers $CONSUMERS"
	echo "kafka jvm: $KAFKA_JVM_OPTS"
} >"$OUT/env.txt"
disk

COMMON=(--record-size 1024 --acks all --linger 1ms --idempotent="$IDEMPOTENT" --producers "$PRODUCERS" --consumers "$CONSUMERS")
for target in $TARGETS; do
	[[ $target == gregor || $target == gregor-sync ]] || start_target "$target"
done
for round in $(seq 1 "$ROUNDS"); do
	for target in gregor gregor-sync; do
		if has "$TARGETS" $target; then
			stop_target $target
			start_target $target
		fi
	done
	if has "$SCENARIOS" produce16; then
		for t in $TARGETS; do
			# consume16 reads this topic, so it stays unless nothing will.
			keep=(--delete)
			if has "$SCENARIOS" consume16 && [[ $t != blackhole && $t != gregor-sync ]]; then keep=(); fi
			bench "r$round-produce16-$t" "$t" produce --topic "p16-r$round" --partitions 16 \
				--duration "$DURATION" --warmup "$WARMUP" "${COMMON[@]}" "${keep[@]}"
		done
	fi
	if has "$SCENARIOS" consume16; then
		for t in $TARGETS; do
			[[ $t == blackhole || $t == gregor-sync ]] && continue
			bench "r$round-consume16-$t" "$t" consume --topic "p16-r$round" --create=false --delete --consumers "$CONSUMERS"
		done
	fi
	if has "$SCENARIOS" produce10k; then
		for t in $TARGETS; do
			[[ $t == gregor-sync || $t == blackhole ]] && continue
			bench "r$round-produce10k-$t" "$t" produce --topic "p10k-r$round" --partitions "$BIG_PARTITIONS" \
				--duration "$DURATION" --warmup "$WARMUP" "${COMMON[@]}" --delete
		done
	fi
	if has "$SCENARIOS" e2e; then
		for t in $TARGETS; do
			[[ $t == gregor-sync || $t == blackhole ]] && continue
			bench "r$round-e2e-$t" "$t" e2e --topic "e2e-r$round" --partitions 16 --rate "$E2E_RATE" \
				--duration "$DURATION" --warmup "$WARMUP" "${COMMON[@]}" --delete
		done
	fi
	if has "$SCENARIOS" ackfloor && has "$TARGETS" blackhole; then
		bench "r$round-ackfloor-blackhole" blackhole produce --topic "floor-r$round" --partitions 16 \
			--rate "$E2E_RATE" --duration "$DURATION" --warmup "$WARMUP" "${COMMON[@]}" --delete
	fi
done
echo "load after: $(cat /proc/loadavg)" >>"$OUT/env.txt"
disk
cleanup

python3 - "$OUT" "$COMMIT" "$STARTED_AT" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" <<'EOF' | tee "$OUT/results.md"
import json, glob, os, statistics, sys
out, commit, started, ended = sys.argv[1:5]
print(f"Written by `scripts/bench.sh` ({started} – {ended}) on commit {commit}. "
      "Medians over the rounds; the settings, machine, load and disk are at the end.")
print()
runs = {}
for f in glob.glob(os.path.join(out, "runs", "*.json")):
    name = os.path.basename(f)[:-5]
    rnd, scen, target = name.split("-", 2)
    try:
        s = json.load(open(f))
    except Exception:
        continue
    runs.setdefault((scen, target), []).append(s)

def med(scen, target, fn):
    vals = [fn(s) for s in runs.get((scen, target), []) if fn(s) is not None]
    return statistics.median(vals) if vals else None

def lat(key):
    return lambda s: (s.get("latency") or {}).get(key)

def fmt(v, nd=0):
    if v is None: return "–"
    return f"{v:,.{nd}f}"

order = ["gregor", "gregor-sync", "kafka", "kfake", "blackhole"]
print("| scenario | target | runs | records/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | broker RSS MiB | broker CPU µs/rec | client CPU µs/rec |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for scen in ["produce16", "consume16", "produce10k", "e2e", "ackfloor"]:
    for t in order:
        rs = runs.get((scen, t))
        if not rs: continue
        errs = sum(s.get("errors", 0) + s.get("lost", 0) for s in rs)
        rss = med(scen, t, lambda s: s.get("broker_rss_max_bytes", 0) / 2**20 or None)
        print(f"| {scen} | {t} | {len(rs)} | {fmt(med(scen,t,lambda s: s['records_per_sec']))} | "
              f"{fmt(med(scen,t,lambda s: s['mb_per_sec']),1)} | {fmt(med(scen,t,lat('p50_ms')),2)} | "
              f"{fmt(med(scen,t,lat('p99_ms')),2)} | {fmt(med(scen,t,lat('p99_9_ms')),2)} | "
              f"{fmt(med(scen,t,lat('max_ms')),2)} | {errs} | {fmt(rss)} | "
              f"{fmt(med(scen,t,lambda s: s.get('broker_cpu_us_per_record')),2)} | "
              f"{fmt(med(scen,t,lambda s: s.get('client_cpu_us_per_record')),2)} |")

def ratio(label, a, b, want):
    if a is None or b is None or b == 0:
        print(f"| {label} | – | {want} |"); return
    print(f"| {label} | {a/b:.2f} | {want} |")

rps = lambda scen, t: med(scen, t, lambda s: s["records_per_sec"])
p99 = lambda scen, t: med(scen, t, lat("p99_ms"))
rss = lambda scen, t: med(scen, t, lambda s: s.get("broker_rss_max_bytes") or None)
print()
print("| ratio (medians) | value | target |")
print("|---|---|---|")
ratio("gregor produce16 / kfake produce16", rps("produce16","gregor"), rps("produce16","kfake"), "≥ 4")
ratio("gregor produce16 / blackhole produce16 (no-storage ceiling)", rps("produce16","gregor"), rps("produce16","blackhole"), "(info)")
ratio("gregor produce10k / gregor produce16", rps("produce10k","gregor"), rps("produce16","gregor"), "≥ 0.8")
ratio("gregor consume16 / gregor produce16", rps("consume16","gregor"), rps("produce16","gregor"), "≥ 1.0")
ratio("gregor e2e p99 / kfake e2e p99", p99("e2e","gregor"), p99("e2e","kfake"), "≤ 0.7")
ratio("blackhole ack p99 at the e2e rate / gregor e2e p99 (client floor)", p99("ackfloor","blackhole"), p99("e2e","gregor"), "(info)")
ratio("gregor-sync produce16 / gregor produce16", rps("produce16","gregor-sync"), rps("produce16","gregor"), "≥ 0.5")
ratio("gregor produce16 / kafka produce16", rps("produce16","gregor"), rps("produce16","kafka"), "> 1")
ratio("gregor produce10k / kafka produce10k", rps("produce10k","gregor"), rps("produce10k","kafka"), "> 1")
ratio("gregor consume16 / kafka consume16", rps("consume16","gregor"), rps("consume16","kafka"), "> 1")
ratio("gregor e2e p99 / kafka e2e p99", p99("e2e","gregor"), p99("e2e","kafka"), "< 1")
ratio("gregor RSS / kafka RSS (produce10k)", rss("produce10k","gregor"), rss("produce10k","kafka"), "< 1")
cpu = lambda scen, t: med(scen, t, lambda s: s.get("broker_cpu_us_per_record"))
ratio("broker CPU per record produce16: gregor / kafka", cpu("produce16","gregor"), cpu("produce16","kafka"), "(info)")
ratio("broker CPU per record produce16: gregor / kfake", cpu("produce16","gregor"), cpu("produce16","kfake"), "(info)")
ratio("broker CPU per record consume16: gregor / kafka", cpu("consume16","gregor"), cpu("consume16","kafka"), "(info)")
print()
print("gregor RSS max over produce10k: " + fmt((rss("produce10k","gregor") or 0)/2**20) + " MiB (target < 1024)")
print()
print("disk (dd bs=1M count=1024 conv=fdatasync, before / after):")
for line in open(os.path.join(out, "disk.txt")):
    print("    " + line.strip())
print()
for line in open(os.path.join(out, "env.txt")):
    print("    " + line.rstrip())
EOF

if [[ ${UPDATE_BENCHMARKS:-} == 1 ]]; then
	python3 - "$OUT/results.md" BENCHMARKS.md <<'EOF'
import sys
results, doc = sys.argv[1], sys.argv[2]
begin, end = "<!-- bench.sh results: begin -->", "<!-- bench.sh results: end -->"
text = open(doc).read()
if begin not in text or end not in text:
    sys.exit(f"bench.sh: {doc} has no {begin} … {end} markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w").write(head + begin + "\n" + open(results).read().rstrip("\n") + "\n" + end + tail)
print(f"bench.sh: wrote the report into {doc}", file=sys.stderr)
EOF
fi
