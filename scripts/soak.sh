#!/usr/bin/env bash
# Long runs of gregor standalone (issue 14 items 5 and 7), each writing a
# results table (OUT/results.md, also printed) with the commit, the machine
# and its load before, during and after.
#
#   scripts/soak.sh [OUT]     make soak: produce+consume at SOAK_LOAD (0.7) of a
#                             maximum measured first, for SOAK_DURATION (30m),
#                             with retention deleting segments all along
#   scripts/stall.sh [OUT]    make stall: producer→consumer at a fixed STALL_RATE
#                             (20000 records/s) for STALL_DURATION (10m) across
#                             segment rolls, retention deletions and checkpoints;
#                             reports the longest end-to-end latency of any record
#
# Both run `gregor bench e2e` (one producer, one consumer reading from the end,
# 16 partitions, 1 KiB records, acks=all, linger 1 ms; internal/bench) against
# `gregor standalone` with 64 MiB segments (LONGRUN_SEGMENT_BYTES), per-partition
# retention of LONGRUN_RETENTION_BYTES (16 MiB) checked every 5 s, and the
# default 10 s checkpoints, so segments roll every few seconds and are deleted
# as the log moves on: the disk holds about 16 × 16 MiB plus a few segments.
#
# Soak: first `bench produce` unthrottled for SOAK_MAX_DURATION (20s) measures
# the maximum; then e2e runs at SOAK_LOAD × that rate. The table compares the
# records received per second in the first and the last window (5 minutes, or a
# quarter of SOAK_DURATION when shorter): the target is last ≥ 0.95 × first,
# with no record lost; the broker's RSS is sampled every 5 s (OUT/rss.csv) and
# its first-window and last-window maxima compared (bounded: no growth).
#
# Stall: the target is a longest end-to-end latency under 50 ms in a 10-minute
# run on a quiet machine; the table gives max, p99.9, p99 and p50 with the
# load, and how many segments were created and deleted during the run.
#
# The machine's 2 cores are usually shared: client and broker share them, and
# the load printed beside the figures says how far they can be trusted. Full
# runs need a quiet machine; SOAK_DURATION=20s / STALL_DURATION=20s check the
# harness in under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-soak}
case $MODE in
soak) DURATION=${SOAK_DURATION:-30m} ;;
stall) DURATION=${STALL_DURATION:-10m} ;;
*)
	echo "MODE must be soak or stall" >&2
	exit 2
	;;
esac
SOAK_LOAD=${SOAK_LOAD:-0.7}
SOAK_MAX_DURATION=${SOAK_MAX_DURATION:-20s}
STALL_RATE=${STALL_RATE:-20000}
SEGMENT_BYTES=${LONGRUN_SEGMENT_BYTES:-67108864}
RETENTION_BYTES=${LONGRUN_RETENTION_BYTES:-16777216}
PARTITIONS=${LONGRUN_PARTITIONS:-16}
OUT=${1:-/tmp/gregor-$MODE-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$OUT/bin/gregor

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secs() { # a Go duration (30m, 20s, 1h) in seconds
	python3 -c 'import re,sys; d=sys.argv[1]; print(int(sum(float(v)*{"h":3600,"m":60,"s":1,"ms":0.001}[u] for v,u in re.findall(r"([0-9.]+)(ms|h|m|s)", d))))' "$1"
}

commit=$(git rev-parse HEAD)
git diff --quiet HEAD -- . 2>/dev/null || commit="$commit + uncommitted changes"
log "building gregor ($commit)"
CGO_ENABLED=0 go build -o "$BIN" ./cmd/gregor

port=$(free_port)
"$BIN" standalone --data-dir "$OUT/data" --listeners "PLAINTEXT://127.0.0.1:$port" \
	--http.listener "127.0.0.1:$(free_port)" --logger.level warn \
	--log.segment.bytes "$SEGMENT_BYTES" --log.retention.bytes "$RETENTION_BYTES" \
	--log.retention.check.interval.ms 5000 >>"$OUT/broker.log" 2>&1 &
BPID=$!
SAMPLER=
cleanup() {
	[[ -n $SAMPLER ]] && kill "$SAMPLER" 2>/dev/null
	kill "$BPID" 2>/dev/null || true
	wait "$BPID" 2>/dev/null || true
	rm -rf "${OUT:?}/data"
}
trap cleanup EXIT
for _ in $(seq 1 300); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
BROKERS=127.0.0.1:$port
common=(--brokers "$BROKERS" --topic longrun --partitions "$PARTITIONS" --record-size 1024 --acks all --linger 1ms --broker-pid "$BPID")

load_before=$(cat /proc/loadavg)
rate=$STALL_RATE
max_rate=
if [[ $MODE == soak ]]; then
	log "measuring the maximum: bench produce unthrottled for $SOAK_MAX_DURATION"
	"$BIN" bench produce "${common[@]}" --topic longrun-max --duration "$SOAK_MAX_DURATION" --warmup 2s --delete --json -q >"$OUT/max.json"
	max_rate=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["records_per_sec"]))' "$OUT/max.json")
	rate=$(python3 -c "print(round($max_rate * $SOAK_LOAD))")
	log "maximum $max_rate records/s; the soak runs at $rate ($SOAK_LOAD ×)"
fi

# Every 5 s: seconds since start, broker VmRSS (KiB), segment files, the
# 1-minute load.
(
	t0=$(date +%s)
	echo "t,rss_kib,segments,load1" >"$OUT/rss.csv"
	while kill -0 "$BPID" 2>/dev/null; do
		rss=$(awk '/^VmRSS/ {print $2}' "/proc/$BPID/status" 2>/dev/null || echo 0)
		segs=$(find "$OUT/data" -name '*.log' -path '*commitlog*' 2>/dev/null | wc -l)
		echo "$(($(date +%s) - t0)),$rss,$segs,$(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/rss.csv"
		find "$OUT/data" -name '*.log' -path '*commitlog*' 2>/dev/null >>"$OUT/segments.seen"
		sleep 5
	done
) &
SAMPLER=$!

log "$MODE: bench e2e at $rate records/s for $DURATION (progress in $OUT/e2e.progress)"
e2e_rc=0
"$BIN" bench e2e "${common[@]}" --rate "$rate" --duration "$DURATION" --warmup 5s --json \
	>"$OUT/e2e.json" 2>"$OUT/e2e.progress" || e2e_rc=$?
load_after=$(cat /proc/loadavg)
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=

python3 - "$OUT" "$MODE" "$commit" "$(secs "$DURATION")" "$rate" "${max_rate:-}" "$SOAK_LOAD" "$load_before" "$load_after" "$e2e_rc" \
	"$SEGMENT_BYTES" "$RETENTION_BYTES" "$PARTITIONS" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" <<'EOF'
import json, re, sys, csv, os
out, mode, commit, dur, rate, max_rate, soak_load, lb, la, rc, segb, retb, parts, ncpu, model = sys.argv[1:]
dur = int(dur)
s = json.load(open(f"{out}/e2e.json")) if os.path.getsize(f"{out}/e2e.json") else {}
lat = s.get("latency") or {}
# Per-second received rates from the progress lines ("  12s e2e | acked … | received 19,998 rec/s …").
recv = []
for line in open(f"{out}/e2e.progress"):
    m = re.search(r"received ([0-9,]+) rec/s", line)
    if m:
        recv.append(int(m.group(1).replace(",", "")))
rss = list(csv.DictReader(open(f"{out}/rss.csv")))
seen = set(l.strip() for l in open(f"{out}/segments.seen")) if os.path.exists(f"{out}/segments.seen") else set()
segs_now = int(rss[-1]["segments"]) if rss else 0
loads = [float(r["load1"]) for r in rss]
rows = []
def mib(k): return f"{int(k)/1024:,.0f}"
lines = []
lines.append(f"Written by `scripts/{mode}.sh` ({'make ' + mode}) on commit {commit}, {ncpu} CPUs ({model}), client and broker on the same machine.")
lines.append("")
lines.append(f"`gregor bench e2e`: {parts} partitions, 1 KiB records, acks=all, linger 1 ms, one producer, one consumer from the end, {rate} records/s for {dur} s (+5 s warm-up); gregor standalone with {int(segb)>>20} MiB segments, retention.bytes {int(retb)>>20} MiB per partition checked every 5 s, checkpoints every 10 s (default).")
lines.append("")
lines.append("| figure | value |")
lines.append("|---|---|")
if mode == "soak":
    recv = recv[5:]  # the 5 s warm-up
    w = min(300, max(1, len(recv) // 4))
    first, lastw = recv[:w], recv[-w:]
    f_avg = sum(first) / len(first) if first else 0
    l_avg = sum(lastw) / len(lastw) if lastw else 0
    lines.append(f"| maximum measured first (bench produce, unthrottled) | {int(max_rate):,} records/s |")
    lines.append(f"| soak rate ({soak_load} × maximum) | {int(rate):,} records/s |")
    lines.append(f"| received, first {w} s (mean records/s) | {f_avg:,.0f} |")
    lines.append(f"| received, last {w} s (mean records/s) | {l_avg:,.0f} |")
    ratio = l_avg / f_avg if f_avg else 0
    lines.append(f"| last / first (target ≥ 0.95) | **{ratio:.3f}** {'met' if ratio >= 0.95 else 'NOT met'} |")
    n = max(1, len(rss) // 4)
    r_first = max(int(r["rss_kib"]) for r in rss[:n]) if rss else 0
    r_last = max(int(r["rss_kib"]) for r in rss[-n:]) if rss else 0
    r_max = max(int(r["rss_kib"]) for r in rss) if rss else 0
    lines.append(f"| broker RSS max, first quarter / last quarter / whole run | {mib(r_first)} / {mib(r_last)} / {mib(r_max)} MiB |")
else:
    lines.append(f"| longest end-to-end latency of any record (target < 50 ms on a quiet machine) | **{lat.get('max_ms', 0):.2f} ms** |")
    lines.append(f"| p99.9 / p99 / p50 | {lat.get('p99_9_ms', 0):.2f} / {lat.get('p99_ms', 0):.2f} / {lat.get('p50_ms', 0):.2f} ms |")
    al = s.get("ack_latency") or {}
    lines.append(f"| producer ack latency max / p99 | {al.get('max_ms', 0):.2f} / {al.get('p99_ms', 0):.2f} ms |")
    lines.append(f"| broker RSS max | {int(s.get('broker_rss_max_bytes', 0)) >> 20} MiB |")
lines.append(f"| records received (after warm-up) | {s.get('records', 0):,} |")
lines.append(f"| errors / lost | {s.get('errors', 0)} / {s.get('lost', 0)} |")
lines.append(f"| commit-log segments created / on disk at the end | {len(seen)} / {segs_now} (so {max(0, len(seen) - segs_now)} deleted by retention) |")
lines.append(f"| broker CPU per record | {s.get('broker_cpu_us_per_record', 0):.2f} µs |")
if loads:
    lines.append(f"| load average (1 min) during the run: min / median / max | {min(loads):.2f} / {sorted(loads)[len(loads)//2]:.2f} / {max(loads):.2f} |")
lines.append(f"| load before / after (/proc/loadavg) | {lb} / {la} |")
lines.append(f"| bench exit status | {rc} |")
lines.append("")
lines.append(f"Raw: {out}/e2e.json, e2e.progress (per second), rss.csv (every 5 s).")
text = "\n".join(lines) + "\n"
open(f"{out}/results.md", "w").write(text)
print(text)
EOF
exit "$e2e_rc"
