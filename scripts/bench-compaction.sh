#!/usr/bin/env bash
# What compaction costs producers, gregor and Apache Kafka side by side:
# `gregor bench e2e` at a fixed rate over 1,000 keys overwritten again and
# again (--keys sequential --key-space 1000), into a topic with
# cleanup.policy=delete and one with cleanup.policy=compact
# (segment.ms=1000 so Kafka rolls, and cleans, every second;
# min.cleanable.dirty.ratio=0.1), each target and policy in turn, ROUNDS
# times. Prints each run's summary (ack and end-to-end latency) and the
# data folders' size after it.
#
#   scripts/bench-compaction.sh [OUT]     results in OUT (default /tmp/gregor-bench-compaction)
#
# OUT/results.md is the report, written by this run with the commit and the
# machine's load; with UPDATE_BENCHMARKS=1 the run also puts it into
# BENCHMARKS.md between its "bench-compaction.sh results" markers.
#
# Environment: RATE (3000 records/s), DUR (30s), ROUNDS (2), RECORD_SIZE (1024).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-3000}
DUR=${DUR:-30s}
ROUNDS=${ROUNDS:-2}
RECORD_SIZE=${RECORD_SIZE:-1024}
OUT=${1:-/tmp/gregor-bench-compaction}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
go build -o "$OUT/gregor" ./cmd/gregor
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT=$(port); GPORT=$(port); HPORT=$(port)
rm -rf "$OUT/kafka" "$OUT/gdata"
bash scripts/kafka.sh start "$KPORT" "$OUT/kafka" >/dev/null
"$OUT/gregor" --data-dir="$OUT/gdata" --listeners=PLAINTEXT://127.0.0.1:$GPORT \
	--advertised.listeners=PLAINTEXT://127.0.0.1:$GPORT --http.listener=127.0.0.1:$HPORT \
	--log.segment.bytes=67108864 >"$OUT/gregor.log" 2>&1 &
GPID=$!
trap 'kill $GPID; bash scripts/kafka.sh stop "$OUT/kafka"' EXIT
sleep 3
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no -- . ':(exclude)BENCHMARKS.md' 2>/dev/null) ]]; then
	COMMIT="$COMMIT + uncommitted changes"
fi
{
echo "Written by \`scripts/bench-compaction.sh\` on $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $COMMIT,"
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; rate $RATE records/s of"
echo "$RECORD_SIZE bytes over 1,000 keys, $DUR per run, $ROUNDS rounds, Kafka $(scripts/kafka.sh version)."
echo
echo '```'
for round in $(seq "$ROUNDS"); do
	for tgt in gregor kafka; do
		addr=127.0.0.1:$GPORT
		[[ $tgt == kafka ]] && addr=127.0.0.1:$KPORT
		for pol in delete compact; do
			topic=$pol-$round
			cfg=(--config cleanup.policy=$pol --config segment.ms=1000)
			[[ $pol == compact ]] && cfg+=(--config min.cleanable.dirty.ratio=0.1)
			"$OUT/gregor" topic create -b "$addr" -p 1 -r 1 "${cfg[@]}" "$topic" >/dev/null
			echo "== $tgt $pol round $round"
			"$OUT/gregor" bench e2e --brokers "$addr" --topic "$topic" --create=false --partitions 1 \
				--rate "$RATE" --duration "$DUR" --keys sequential --key-space 1000 \
				--record-size "$RECORD_SIZE" -q --json >"$OUT/$tgt-$pol-$round.json" 2>"$OUT/$tgt-$pol-$round.err" || true
			python3 - "$OUT/$tgt-$pol-$round.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
e, a = d.get("latency") or {}, d.get("ack_latency") or {}
print("  %.0f records/s; ack p50 %s p99 %s p99.9 %s ms; e2e p50 %s p99 %s p99.9 %s ms" % (
    d.get("records_per_sec", 0), a.get("p50_ms"), a.get("p99_ms"), a.get("p99_9_ms"),
    e.get("p50_ms"), e.get("p99_ms"), e.get("p99_9_ms")))
PY
			echo "  data: gregor $(du -sh "$OUT/gdata" | cut -f1), kafka $(du -sh "$OUT/kafka" | cut -f1); load $(cut -d' ' -f1-3 /proc/loadavg)"
		done
	done
done
echo '```'
} | tee "$OUT/results.md"
if [[ ${UPDATE_BENCHMARKS:-} == 1 ]]; then
	python3 - "$OUT/results.md" BENCHMARKS.md <<'PYEOF'
import sys
res, path = sys.argv[1:3]
body = open(res).read().strip()
doc = open(path).read()
begin, end = "<!-- bench-compaction.sh results: begin -->", "<!-- bench-compaction.sh results: end -->"
i, j = doc.find(begin), doc.find(end)
if i < 0 or j < i:
    sys.exit(f"{path} has no {begin} … {end} block")
open(path, "w").write(doc[:i + len(begin)] + "\n" + body + "\n" + doc[j:])
PYEOF
fi
