#!/usr/bin/env bash
# What transactions cost (issue 13 item 5), gregor beside Apache Kafka 4.x (one
# KRaft node, via scripts/kafka.sh) in one interleaved run, in bench.sh's style;
# BENCHMARKS.md's "Transactions" section quotes what it writes.
#
#   scripts/bench-txn.sh [OUT]    results in OUT (default /tmp/gregor-bench-txn-<time>)
#
# OUT/results.md is the whole report, written by this run, naming the commit it
# ran on. With UPDATE_BENCHMARKS=1 the run also puts it into BENCHMARKS.md
# between the "bench-txn.sh results" markers: the figures there are only ever
# written by a run.
#
# Every round runs each scenario against each target before the next scenario,
# so the targets interleave and share the machine's noise (the load average
# before and after goes beside the figures):
#
#   idem      one producer, 16 partitions, 1 KiB records, acks=all, linger 1 ms,
#             idempotent, no transactions, WARMUP + DURATION
#   txn100    the same, transactional, a commit every 100 records
#   txn10k    the same, a commit every 10,000 records
#   ru, rc    one consumer reading a topic from its start to its end,
#             isolation.level read_uncommitted / read_committed (their order
#             alternates by round); the topic is filled first (not measured)
#             with CONSUME_RECORDS records in transactions of 100, the same
#             count on every target, so it holds a marker every 100 records
#             per partition and its aborted-transaction lists are empty
#
# Targets: gregor (standalone, async flush, 64 MiB segments, restarted with
# empty data every round) and kafka (kafka-server-start.sh's JVM defaults,
# KAFKA_JVM_OPTS). Environment: ROUNDS (3), DURATION (10s), WARMUP (2s),
# CONSUME_RECORDS (40000), TARGETS ("gregor kafka").
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONSUME_RECORDS=${CONSUME_RECORDS:-40000}
TARGETS=${TARGETS:-"gregor kafka"}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:-"-Xmx1G -Xms1G -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent"}
OUT=${1:-/tmp/gregor-bench-txn-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
BIN=$OUT/bin/gregor

. scripts/bench-lib.sh
trap cleanup EXIT

start_target() {
	local name=$1 port
	port=$(free_port)
	ADDR[$name]=127.0.0.1:$port
	case $name in
	gregor)
		rm -rf "${OUT:?}/gregor"
		mkdir -p "$OUT/gregor"
		"$BIN" standalone --data-dir "$OUT/gregor/data" --listeners "PLAINTEXT://127.0.0.1:$port" \
			--http.listener "127.0.0.1:$(free_port)" --log.segment.bytes 67108864 \
			--logger.level warn >>"$OUT/gregor.log" 2>&1 &
		PID[$name]=$!
		;;
	kafka) start_kafka "$port" ;;
	esac
	started "$name" "$port"
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
	echo "rounds $ROUNDS, duration $DURATION, warmup $WARMUP, consume $CONSUME_RECORDS records, targets $TARGETS"
	echo "kafka: $(scripts/kafka.sh version), jvm: $KAFKA_JVM_OPTS"
} >"$OUT/env.txt"

PRODUCE=(produce --partitions 16 --record-size 1024 --acks all --idempotent=true --linger 1ms)
for t in $TARGETS; do
	[[ $t == gregor ]] || start_target "$t"
done
for round in $(seq 1 "$ROUNDS"); do
	if [[ " $TARGETS " == *" gregor "* ]]; then
		stop_target gregor
		start_target gregor
	fi
	for scen in idem:0 txn100:100 txn10k:10000; do
		for t in $TARGETS; do
			bench "r$round-${scen%%:*}-$t" "$t" "${PRODUCE[@]}" --topic "${scen%%:*}-r$round" \
				--transaction-records "${scen##*:}" --duration "$DURATION" --warmup "$WARMUP" --delete
		done
	done
	for t in $TARGETS; do
		bench "fill-r$round-$t" "$t" "${PRODUCE[@]}" --topic "read-r$round" --transaction-records 100 --records "$CONSUME_RECORDS"
	done
	order=(ru rc)
	((round % 2 == 0)) && order=(rc ru)
	for t in $TARGETS; do
		for iso in "${order[@]}"; do
			del=()
			[[ $iso == "${order[1]}" ]] && del=(--delete)
			rc=false
			[[ $iso == rc ]] && rc=true
			bench "r$round-$iso-$t" "$t" consume --topic "read-r$round" --create=false --read-committed="$rc" "${del[@]}"
		done
	done
done
echo "load after: $(cat /proc/loadavg)" >>"$OUT/env.txt"

python3 - "$OUT" "$COMMIT" "$STARTED_AT" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" <<'PYEOF' | tee "$OUT/results.md"
import json, glob, os, statistics, sys
out, commit, started, ended = sys.argv[1:5]
env = {}
for line in open(os.path.join(out, "env.txt")):
    k, _, v = line.partition(": ")
    env[k] = v.strip()
runs = {}
for f in glob.glob(os.path.join(out, "runs", "r*-*.json")):
    rnd, scen, target = os.path.basename(f)[:-5].split("-", 2)
    try:
        runs.setdefault((scen, target), []).append(json.load(open(f)))
    except Exception:
        pass
targets = [t for t in ["gregor", "kafka"] if any(k[1] == t for k in runs)]
def med(scen, t, fn):
    vals = [fn(s) for s in runs.get((scen, t), []) if fn(s) is not None]
    return statistics.median(vals) if vals else None
def vals(scen, t):
    return sorted(s["records_per_sec"] for s in runs.get((scen, t), []))
fmt = lambda v, nd=0: "–" if v is None else f"{v:,.{nd}f}"
rps = lambda scen, t: med(scen, t, lambda s: s["records_per_sec"])
load = lambda k: " ".join(env.get(k, "? ? ?").split()[:3])
print(f"Written by `scripts/bench-txn.sh` ({started} – {ended}) on commit {commit}, "
      f"{env.get('cpus', '?').split(';')[0]} CPUs shared by the client, the broker and the other "
      f"engineers' work: **the machine is shared and noisy** (load average {load('load before')} before, "
      f"{load('load after')} after), so compare the ratios within a broker more than the absolute "
      "figures. Medians over the rounds, every round's figure in brackets.")
print()
names = {"idem": "produce, idempotent, no transactions", "txn100": "produce, a transaction every 100 records",
         "txn10k": "produce, a transaction every 10,000 records",
         "ru": "consume (transactions of 100), read_uncommitted", "rc": "consume (transactions of 100), read_committed"}
print("| scenario | target | runs | records/s (median) | every run | MB/s | p99 ms | broker CPU µs/rec | errors + lost |")
print("|---|---|---|---|---|---|---|---|---|")
for scen in ["idem", "txn100", "txn10k", "ru", "rc"]:
    for t in targets:
        rs = runs.get((scen, t))
        if not rs:
            continue
        errs = sum(s.get("errors", 0) + s.get("lost", 0) for s in rs)
        print(f"| {names[scen]} | {t} | {len(rs)} | {fmt(rps(scen, t))} | {', '.join(fmt(v) for v in vals(scen, t))} | "
              f"{fmt(med(scen, t, lambda s: s['mb_per_sec']), 1)} | "
              f"{fmt(med(scen, t, lambda s: (s.get('latency') or {}).get('p99_ms')), 2)} | "
              f"{fmt(med(scen, t, lambda s: s.get('broker_cpu_us_per_record')), 2)} | {errs} |")
print()
print("| ratio (medians) | " + " | ".join(targets) + " |")
print("|---|" + "---|" * len(targets))
def ratio(label, a, b):
    cells = []
    for t in targets:
        x, y = rps(a, t), rps(b, t)
        cells.append("–" if x is None or not y else f"{x / y:.2f}")
    print(f"| {label} | " + " | ".join(cells) + " |")
ratio("produce, transactions of 100 / no transactions", "txn100", "idem")
ratio("produce, transactions of 10,000 / no transactions", "txn10k", "idem")
ratio("consume, read_committed / read_uncommitted", "rc", "ru")
if len(targets) == 2:
    print()
    print("| gregor / kafka (medians) | ratio |")
    print("|---|---|")
    for scen in ["idem", "txn100", "txn10k", "ru", "rc"]:
        g, k = rps(scen, "gregor"), rps(scen, "kafka")
        print(f"| {names[scen]} | {'–' if g is None or not k else f'{g / k:.2f}'} |")
print()
for line in open(os.path.join(out, "env.txt")):
    print("    " + line.rstrip())
print()
print("Commands: " + os.path.join(out, "commands.log") + " (every bench run with its flags).")
PYEOF

if [[ ${UPDATE_BENCHMARKS:-} == 1 ]]; then
	python3 - "$OUT/results.md" BENCHMARKS.md <<'PYEOF'
import sys
res, path = sys.argv[1:3]
body = open(res).read().strip()
doc = open(path).read()
begin, end = "<!-- bench-txn.sh results: begin -->", "<!-- bench-txn.sh results: end -->"
i, j = doc.find(begin), doc.find(end)
if i < 0 or j < i:
    sys.exit(f"{path} has no {begin} … {end} block")
open(path, "w").write(doc[:i + len(begin)] + "\n" + body + "\n" + doc[j:])
PYEOF
	log "BENCHMARKS.md updated"
fi
