#!/usr/bin/env bash
# Side-by-side benchmark of gregor, Apache Kafka 4.x (one KRaft node, via
# scripts/kafka.sh) and kfake (franz-go's fake cluster, its own process), in
# the OpenMessaging Benchmark shape; BENCHMARKS.md quotes what it prints.
#
#   scripts/bench.sh [OUT]      results in OUT (default /tmp/gregor-bench-<time>)
#   SUITE=replication scripts/bench.sh [OUT]
#                               what replication costs instead (master + slave
#                               against a group of one; see "SUITE=replication")
#
# OUT/results.md is the whole report, written by this run, naming the commit
# it ran on (git rev-parse HEAD; "+ uncommitted changes" when the tree
# differs). With UPDATE_BENCHMARKS=1 the run also puts that report into
# BENCHMARKS.md between its "bench.sh results" markers: the figures there are
# only ever written by a run, never by hand. UPDATE_SECTION names other
# markers ("bench.sh consume-latency": the consume and latency scenarios of
# issue 14 items 4 and 5, run on their own; raw results then in
# bench/results-consume-latency), so a run of some scenarios does not
# replace the whole table.
#
# Every round runs each scenario against each target before the next
# scenario, so the targets interleave and share the machine's noise:
#
#   produce16   1 topic, 16 partitions, 1 KiB records, acks=all, linger 1 ms,
#               unthrottled, WARMUP + DURATION
#   consumefan  FANOUT (4) independent readers of produce16's topic at once,
#               each reading all of it (as that many consumer groups)
#   consume16   read produce16's topic from the start (then delete it)
#   consumecold a topic of COLD_RECORDS (1 GiB of 1 KiB records, 16
#               partitions) written, then `sync` and `echo 3 >
#               /proc/sys/vm/drop_caches`, then read from the start: a
#               consumer far behind whose data is not in the page cache
#               (gregor and kafka; "warm" in the report when the caches
#               could not be dropped)
#   consumetxn  a topic of TXN_RECORDS written in transactions of 1,000
#               records, then read with isolation.level read_committed
#               (gregor and kafka)
#   produce10k  produce16 with 10,000 partitions
#   produce10krr  produce10k with the round-robin partitioner (each record to
#               the next partition: batches of few records, per-batch cost)
#   acks1       produce16 with acks=1 (not idempotent: franz-go needs acks=all)
#   lz4, zstd   produce16 with that compression
#   producers100  produce16 from 100 producer clients (100 connections)
#   topics1000  1,000 topics x 8 partitions written by 10 producers, each
#               record to the next topic, round-robin over its partitions
#   topic8000   the same 8,000 partitions as one topic (10 producers,
#               round-robin): what many topics cost against many partitions
#   e2e         16 partitions at a fixed rate, producer→consumer: E2E_RATE
#               records/s, or with E2E_RATE=half (the default) half of what
#               gregor's produce16 reached in the same round (issue 14 item
#               5: latency at 50 % of gregor's own maximum), the same rate
#               for every target
#   e2eroll     e2e at that rate for ROLL_DURATION (30s) against gregor and
#               kafka restarted for it with small segments and retention,
#               the same settings on both (ROLL_SEGMENT_BYTES 16 MiB,
#               ROLL_RETENTION_BYTES 32 MiB per partition, retention checked
#               and offsets checkpointed every 5 s): segments roll several
#               times a second and are deleted all along
#   ackfloor    produce at the e2e rate to kfake --blackhole: the client's own floor
#
# Targets: gregor (async flush), gregor-sync (log.flush.mode=sync, produce16
# only), kafka, kfake, blackhole (kfake acknowledging without storing: the
# produce ceiling, in every produce scenario, and ackfloor). Every target
# runs a scenario with the same client flags. gregor restarts with empty data each round so
# its disk use stays bounded. Kafka runs with kafka-server-start.sh's JVM
# defaults (KAFKA_JVM_OPTS) rather than kafka.sh's start-up-speed flags.
#
# Environment: ROUNDS (3), DURATION (10s), WARMUP (2s), BIG_PARTITIONS
# (10000), E2E_RATE (half), FANOUT (4), COLD_RECORDS (1048576), TXN_RECORDS
# (500000), ROLL_DURATION (30s), ROLL_SEGMENT_BYTES (16777216),
# ROLL_RETENTION_BYTES (33554432), TARGETS (all of the above), SCENARIOS (all),
# IDEMPOTENT (true, Kafka's producer default; false for every target),
# PRODUCERS and CONSUMERS (1 client each, as OpenMessaging's workloads).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
BIG_PARTITIONS=${BIG_PARTITIONS:-10000}
E2E_RATE=${E2E_RATE:-half}
FANOUT=${FANOUT:-4}
COLD_RECORDS=${COLD_RECORDS:-1048576}
TXN_RECORDS=${TXN_RECORDS:-500000}
ROLL_DURATION=${ROLL_DURATION:-30s}
ROLL_SEGMENT_BYTES=${ROLL_SEGMENT_BYTES:-16777216}
ROLL_RETENTION_BYTES=${ROLL_RETENTION_BYTES:-33554432}
TARGETS=${TARGETS:-"gregor gregor-sync kafka kfake blackhole"}
SCENARIOS=${SCENARIOS:-"produce16 consumefan consume16 consumecold consumetxn produce10k produce10krr acks1 lz4 zstd producers100 topics1000 topic8000 e2e e2eroll ackfloor"}
IDEMPOTENT=${IDEMPOTENT:-true}
PRODUCERS=${PRODUCERS:-1}
CONSUMERS=${CONSUMERS:-1}
SUITE=${SUITE:-compare}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:-"-Xmx1G -Xms1G -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent"}
OUT=${1:-/tmp/gregor-bench-$(date -u +%Y%m%d-%H%M%S)}
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
	gregor | gregor-sync | gregor-roll)
		local mode=async extra=()
		[[ $name == gregor-sync ]] && mode=sync
		[[ $name == gregor-roll ]] && extra=(--log.segment.bytes "$ROLL_SEGMENT_BYTES"
			--log.retention.bytes "$ROLL_RETENTION_BYTES" --log.retention.check.interval.ms 5000
			--log.flush.offset.checkpoint.interval.ms 5000)
		rm -rf "${OUT:?}/$name"
		mkdir -p "$OUT/$name"
		"$BIN" standalone --data-dir "$OUT/$name/data" --listeners "PLAINTEXT://127.0.0.1:$port" \
			--http.listener "127.0.0.1:$(free_port)" --pprof --log.flush.mode "$mode" \
			--logger.level warn "${extra[@]}" >>"$OUT/$name.log" 2>&1 &
		PID[$name]=$!
		;;
	kfake | blackhole)
		local extra=()
		[[ $name == blackhole ]] && extra=(--blackhole)
		"$BIN" bench kfake --listen "127.0.0.1:$port" "${extra[@]}" >>"$OUT/$name.log" 2>&1 &
		PID[$name]=$!
		;;
	kafka) start_kafka "$port" ;;
	kafka-roll)
		# The same small segments, retention and checkpoints as
		# gregor-roll's, as Kafka's broker settings of the same names.
		rm -rf "${OUT:?}/kafka-roll"
		KAFKA_JVM_OPTS=$KAFKA_JVM_OPTS KAFKA_EXTRA_PROPS="log.segment.bytes=$ROLL_SEGMENT_BYTES
log.retention.bytes=$ROLL_RETENTION_BYTES
log.retention.check.interval.ms=5000
log.flush.offset.checkpoint.interval.ms=5000" \
			scripts/kafka.sh start "$port" "$OUT/kafka-roll" >>"$OUT/kafka-start.log" 2>&1
		PID[$name]=$(cat "$OUT/kafka-roll/kafka.pid")
		;;
	esac
	started "$name" "$port"
}

disk() {
	# Sequential write with one fdatasync at the end, as the page cache
	# would flush it; the figure goes beside the results.
	dd if=/dev/zero of="$OUT/dd.tmp" bs=1M count=1024 conv=fdatasync 2>&1 | tail -n 1 | tee -a "$OUT/disk.txt" >&2
	rm -f "$OUT/dd.tmp"
}

# ---------------------------------------------------------------------------
# SUITE=replication: what replication costs (issue 10 item 9). Targets, each
# a NameServer and broker processes on this machine with fresh data dirs:
#   solo    a group of one (master only): the unreplicated reference
#   async   master + slave, replication.mode=async
#   sync    master + slave, replication.mode=sync (acks=all waits for the slave)
# Every round runs, per target: e2e at E2E_RATE (16 partitions, 1 KiB, acks=all,
# replication factor = group size) with broker CPU = master + slave
# (/proc/<pid>/stat utime+stime over the measured part: bench --broker-pid
# master --replica-pid slave), then produce16 unthrottled. Then once: the
# catch-up of a wiped slave — a master alone is filled with CATCHUP_MB of
# records, a slave with an empty data dir starts, and the time until the
# master's GET /cluster/status lists it in sync with the end it had at the
# start gives MB/s; dd of the same disk (1 GiB, conv=fdatasync) runs right
# before and after. REPL_TARGETS (solo async sync), CATCHUP_MB (1024).
# Results: OUT/results.md; with UPDATE_BENCHMARKS=1 also BENCHMARKS.md between
# the "bench.sh replication" markers.
REPL_TARGETS=${REPL_TARGETS:-"solo async sync"}
CATCHUP_MB=${CATCHUP_MB:-1024}

declare -A HTTP SLAVEPID

# cluster_status HTTPADDR: the member's /cluster/status (empty when it does not answer).
cluster_status() { curl -fsS --max-time 2 "http://$1/cluster/status" 2>/dev/null || true; }

# start_member TARGET INDEX MODE: a `gregor broker` of group g; sets PORT_/HTTP_/PID_ vars.
start_member() {
	local target=$1 i=$2 mode=$3 port hport rport
	port=$(free_port)
	hport=$(free_port)
	rport=$(free_port)
	mkdir -p "$OUT/$target"
	"$BIN" broker --cluster bench --broker-name g --broker-id "$i" --node-id $((i + 1)) \
		--nameservers "${ADDR[$target-ns]}" --register-interval 1s --route-refresh-interval 1s \
		--listeners "PLAINTEXT://127.0.0.1:$port" --data-dir "$OUT/$target/data$i" \
		--http.listener "127.0.0.1:$hport" --replication.listener "127.0.0.1:$rport" \
		--replication.mode "$mode" --group.initial.rebalance.delay.ms 0 \
		--logger.level warn >>"$OUT/$target-member$i.log" 2>&1 &
	MEMBER_PID=$!
	MEMBER_ADDR=127.0.0.1:$port
	MEMBER_HTTP=127.0.0.1:$hport
	wait_port "$port"
}

# wait_in_sync TARGET N: until the master lists N members in sync.
wait_in_sync() {
	local target=$1 n=$2
	for _ in $(seq 1 600); do
		if [[ $(cluster_status "${HTTP[$target]}" | jq '(.in_sync // []) | length' 2>/dev/null) == "$n" ]]; then return 0; fi
		sleep 0.1
	done
	log "$target: the master never listed $n members in sync: $(cluster_status "${HTTP[$target]}")"
	return 1
}

start_repl_target() {
	local target=$1 nsport mode=async
	[[ $target == sync ]] && mode=sync
	rm -rf "${OUT:?}/$target"
	mkdir -p "$OUT/$target"
	nsport=$(free_port)
	"$BIN" nameserver --listen "127.0.0.1:$nsport" --logger.level warn >>"$OUT/$target-ns.log" 2>&1 &
	PID[$target-ns]=$!
	ADDR[$target-ns]=127.0.0.1:$nsport
	wait_port "$nsport"
	start_member "$target" 0 "$mode"
	PID[$target]=$MEMBER_PID
	ADDR[$target]=$MEMBER_ADDR
	HTTP[$target]=$MEMBER_HTTP
	SLAVEPID[$target]=
	if [[ $target != solo ]]; then
		start_member "$target" 1 "$mode"
		SLAVEPID[$target]=$MEMBER_PID
		wait_in_sync "$target" 2
	else
		wait_in_sync "$target" 1
	fi
	log "started $target: master ${ADDR[$target]} (pid ${PID[$target]}), slave pid ${SLAVEPID[$target]:-none}"
}

stop_repl_target() {
	local target=$1
	for p in "${SLAVEPID[$target]:-}" "${PID[$target]:-}" "${PID[$target-ns]:-}"; do
		[[ -n $p ]] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PID[$target]= PID[$target-ns]= SLAVEPID[$target]=
	rm -rf "${OUT:?}/$target"
}

# rbench NAME TARGET ARGS…: one run with master + slave CPU, JSON in runs/NAME.json.
rbench() {
	local name=$1 target=$2
	shift 2
	local cmd=("$BIN" bench "$@" --brokers "${ADDR[$target]}" --broker-pid "${PID[$target]}" --json -q)
	[[ -n ${SLAVEPID[$target]:-} ]] && cmd+=(--replica-pid "${SLAVEPID[$target]}")
	echo "${cmd[*]}" >>"$OUT/commands.log"
	log "$name"
	"${cmd[@]}" >"$OUT/runs/$name.json" 2>>"$OUT/runs/$name.err" || log "$name: exit $? ($(tail -n 1 "$OUT/runs/$name.err"))"
}

# catchup: a master holding CATCHUP_MB, then a wiped slave; writes catchup.json.
catchup() {
	local target=catchup nsport records end t0 t1 st
	rm -rf "${OUT:?}/$target"
	mkdir -p "$OUT/$target"
	nsport=$(free_port)
	"$BIN" nameserver --listen "127.0.0.1:$nsport" --logger.level warn >>"$OUT/$target-ns.log" 2>&1 &
	PID[$target-ns]=$!
	ADDR[$target-ns]=127.0.0.1:$nsport
	wait_port "$nsport"
	start_member "$target" 0 async
	PID[$target]=$MEMBER_PID
	ADDR[$target]=$MEMBER_ADDR
	HTTP[$target]=$MEMBER_HTTP
	SLAVEPID[$target]=
	wait_in_sync "$target" 1
	records=$((CATCHUP_MB * 1024))
	rbench "catchup-fill" "$target" produce --topic catchup --partitions 16 --record-size 1024 \
		--records "$records" --acks 1 --idempotent=false --linger 5ms
	end=$(cluster_status "${HTTP[$target]}" | jq .end)
	sync
	disk
	log "catch-up: a wiped slave joins a master whose commit log ends at $end"
	t0=$(date +%s.%N)
	start_member "$target" 1 async
	SLAVEPID[$target]=$MEMBER_PID
	t1=
	for _ in $(seq 1 36000); do
		st=$(cluster_status "${HTTP[$target]}")
		if [[ -n $st ]] && jq -e --argjson e "$end" '[.slaves[]? | select(.member == 1 and .in_sync and .acked >= $e)] | length == 1' <<<"$st" >/dev/null 2>&1; then
			t1=$(date +%s.%N)
			break
		fi
		sleep 0.05
	done
	disk
	printf '{"bytes": %s, "seconds": %s, "slave_cpu_seconds": %s}\n' "$end" \
		"$( [[ -n $t1 ]] && echo "$t1 - $t0" | bc -l || echo null)" \
		"$(awk '{i=index($0,")"); split(substr($0,i+2),f," "); print (f[12]+f[13])/'"$(getconf CLK_TCK)"'}' "/proc/${SLAVEPID[$target]}/stat")" \
		>"$OUT/catchup.json"
	log "catch-up: $(cat "$OUT/catchup.json")"
	stop_repl_target "$target"
}

replication_suite() {
	trap 'for t in $REPL_TARGETS catchup; do stop_repl_target "$t"; done' EXIT
	{
		echo "date: $(date -u)"
		echo "commit: $COMMIT"
		echo "cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true)"
		echo "load before: $(cat /proc/loadavg)"
		echo "suite replication: rounds $ROUNDS, duration $DURATION, warmup $WARMUP, e2e rate $E2E_RATE, idempotent $IDEMPOTENT, catch-up $CATCHUP_MB MiB"
	} >"$OUT/env.txt"
	local common=(--record-size 1024 --acks all --linger 1ms --idempotent="$IDEMPOTENT" --producers "$PRODUCERS" --consumers "$CONSUMERS")
	for round in $(seq 1 "$ROUNDS"); do
		for t in $REPL_TARGETS; do
			local rf=2
			[[ $t == solo ]] && rf=1
			start_repl_target "$t"
			rbench "r$round-e2e-$t" "$t" e2e --topic "e2e-r$round" --partitions 16 --replication-factor "$rf" \
				--rate "$E2E_RATE" --duration "$DURATION" --warmup "$WARMUP" "${common[@]}"
			rbench "r$round-produce16-$t" "$t" produce --topic "p16-r$round" --partitions 16 --replication-factor "$rf" \
				--duration "$DURATION" --warmup "$WARMUP" "${common[@]}"
			stop_repl_target "$t"
		done
	done
	catchup
	echo "load after: $(cat /proc/loadavg)" >>"$OUT/env.txt"

	python3 - "$OUT" "$COMMIT" "$STARTED_AT" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" <<'PYEOF' | tee "$OUT/results.md"
import json, glob, os, re, statistics, sys
out, commit, started, ended, argv = sys.argv[1:6]
env = {}
for line in open(os.path.join(out, "env.txt")):
    k, _, v = line.partition(": ")
    env[k] = v.strip()
print(f"Written by `SUITE=replication scripts/bench.sh` ({started} – {ended}) on commit {commit}, "
      f"{env.get('cpus', '?').split(';')[0]} CPUs shared by the client, the master and the slave. "
      "Medians over the rounds; settings, load and disk at the end.")
print()
runs = {}
for f in glob.glob(os.path.join(out, "runs", "r*-*.json")):
    rnd, scen, target = os.path.basename(f)[:-5].split("-", 2)
    try:
        runs.setdefault((scen, target), []).append(json.load(open(f)))
    except Exception:
        pass
def med(scen, t, fn):
    vals = [fn(s) for s in runs.get((scen, t), []) if fn(s) is not None]
    return statistics.median(vals) if vals else None
lat = lambda k: (lambda s: (s.get("latency") or {}).get(k))
# e2e: the producers' acknowledgement latency (produce16's latency is that already).
ack = lambda k: (lambda s: (s.get("ack_latency") or {}).get(k))
fmt = lambda v, nd=0: "–" if v is None else f"{v:,.{nd}f}"
names = {"solo": "solo (master only, unreplicated)", "async": "master + slave, replication.mode=async",
         "sync": "master + slave, replication.mode=sync"}
print("| scenario | target | runs | records/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | producer ack p99 ms | errors + lost | broker CPU µs/rec (master + slave) | client CPU µs/rec |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for scen in ["e2e", "produce16"]:
    for t in ["solo", "async", "sync"]:
        rs = runs.get((scen, t))
        if not rs: continue
        errs = sum(s.get("errors", 0) + s.get("lost", 0) for s in rs)
        print(f"| {scen} | {names[t]} | {len(rs)} | {fmt(med(scen,t,lambda s: s['records_per_sec']))} | "
              f"{fmt(med(scen,t,lambda s: s['mb_per_sec']),1)} | {fmt(med(scen,t,lat('p50_ms')),2)} | "
              f"{fmt(med(scen,t,lat('p99_ms')),2)} | {fmt(med(scen,t,lat('p99_9_ms')),2)} | "
              f"{fmt(med(scen,t,lat('max_ms')),2)} | {fmt(med(scen,t,ack('p99_ms')),2)} | {errs} | "
              f"{fmt(med(scen,t,lambda s: s.get('broker_cpu_us_per_record')),2)} | "
              f"{fmt(med(scen,t,lambda s: s.get('client_cpu_us_per_record')),2)} |")
print()
def ratio(label, a, b):
    print(f"| {label} | {'–' if a is None or not b else f'{a/b:.2f}'} |")
for scen in PRODUCE:
    if not runs.get((scen, "gregor")): continue
    ratio(f"gregor {scen} / blackhole {scen} (× ceiling)", rps(scen,"gregor"), rps(scen,"blackhole"), "≥ 0.8")
    ratio(f"gregor {scen} / kafka {scen}", rps(scen,"gregor"), rps(scen,"kafka"), "≥ 1.5" if scen == "produce16" else "(info)")
cpu = lambda scen, t: med(scen, t, lambda s: s.get("broker_cpu_us_per_record"))
p99 = lambda t: med("e2e", t, lat("p99_ms"))
rps = lambda t: med("produce16", t, lambda s: s["records_per_sec"])
print("| ratio (medians) | value |")
print("|---|---|")
for t in ["async", "sync"]:
    ratio(f"broker CPU per record at {env.get('suite replication','').split('e2e rate ')[-1].split(',')[0]} rec/s (e2e), {t} / solo", cpu("e2e", t), cpu("e2e", "solo"))
for t in ["async", "sync"]:
    ratio(f"broker CPU per record unthrottled (produce16), {t} / solo", cpu("produce16", t), cpu("produce16", "solo"))
for t in ["async", "sync"]:
    ratio(f"e2e p99, {t} / solo", p99(t), p99("solo"))
for t in ["async", "sync"]:
    ratio(f"e2e producer ack p99, {t} / solo", med("e2e", t, ack("p99_ms")), med("e2e", "solo", ack("p99_ms")))
for t in ["async", "sync"]:
    ratio(f"produce16 records/s, {t} / solo", rps(t), rps("solo"))
print()
def dd_rates():
    rates = []
    for line in open(os.path.join(out, "disk.txt")):
        m = re.match(r"(\d+) bytes .* copied, ([\d.,]+) s", line.strip())
        if m:
            rates.append(int(m.group(1)) / float(m.group(2).replace(",", ".")) / 2**20)
    return rates
try:
    c = json.load(open(os.path.join(out, "catchup.json")))
except Exception:
    c = None
dd = dd_rates()
if c and c.get("seconds"):
    mb = c["bytes"] / 2**20
    print(f"Catch-up of a wiped slave: {mb:,.0f} MiB of commit log in {c['seconds']:.1f} s = "
          f"**{mb / c['seconds']:,.0f} MiB/s** (slave CPU {c['slave_cpu_seconds']:.1f} s, from process start "
          "until the master's /cluster/status lists it in sync at the end it had when it started); "
          f"`dd bs=1M count=1024 conv=fdatasync` of the same disk right before / after: "
          + " / ".join(f"{r:,.0f} MiB/s" for r in dd[-2:]) + ".")
else:
    print(f"Catch-up of a wiped slave: did not complete ({c}).")
print()
print("disk (dd bs=1M count=1024 conv=fdatasync):")
for line in open(os.path.join(out, "disk.txt")):
    print("    " + line.strip())
print()
for line in open(os.path.join(out, "env.txt")):
    print("    " + line.rstrip())
print()
print("Commands: " + os.path.join(out, "commands.log") + " (every bench run with its flags).")
PYEOF

	if [[ ${UPDATE_BENCHMARKS:-} == 1 ]]; then
		python3 - "$OUT/results.md" BENCHMARKS.md <<'PYEOF'
import sys
results, doc = sys.argv[1], sys.argv[2]
begin, end = "<!-- bench.sh replication: begin -->", "<!-- bench.sh replication: end -->"
text = open(doc).read()
if begin not in text or end not in text:
    sys.exit(f"bench.sh: {doc} has no {begin} … {end} markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w").write(head + begin + "\n" + open(results).read().rstrip("\n") + "\n" + end + tail)
print(f"bench.sh: wrote the replication report into {doc}", file=sys.stderr)
PYEOF
	fi
}

log "building gregor"
mkdir -p "$OUT/bin"
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no -- . ':(exclude)BENCHMARKS.md' 2>/dev/null) ]]; then
	COMMIT="$COMMIT + uncommitted changes"
fi
go build -o "$BIN" ./cmd/gregor
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if [[ $SUITE == replication ]]; then
	replication_suite
	exit 0
fi
{
	echo "date: $(date -u)"
	echo "commit: $COMMIT"
	echo "cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true)"
	echo "load before: $(cat /proc/loadavg)"
	echo "targets: $TARGETS; scenarios: $SCENARIOS"
	echo "rounds $ROUNDS, duration $DURATION, warmup $WARMUP, big partitions $BIG_PARTITIONS, e2e rate $E2E_RATE, idempotent $IDEMPOTENT, producers $PRODUCERS, consumers $CONSUMERS, fanout $FANOUT, cold records $COLD_RECORDS, txn records $TXN_RECORDS"
	echo "e2eroll: $ROLL_DURATION, segment.bytes $ROLL_SEGMENT_BYTES, retention.bytes $ROLL_RETENTION_BYTES, retention check and offset checkpoint every 5000 ms (both brokers)"
	echo "kafka jvm: $KAFKA_JVM_OPTS"
} >"$OUT/env.txt"
disk

# e2e_rate ROUND: E2E_RATE, or for "half" half of gregor's produce16 records/s
# in that round (20000 when there is none).
e2e_rate() {
	if [[ $E2E_RATE != half ]]; then
		echo "$E2E_RATE"
		return
	fi
	python3 - "$OUT/runs/r$1-produce16-gregor.json" <<'PYEOF'
import json, sys
try:
    print(max(1000, round(json.load(open(sys.argv[1]))["records_per_sec"] / 2)))
except Exception:
    print(20000)
PYEOF
}

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
	if has "$SCENARIOS" consumefan && has "$SCENARIOS" produce16; then
		for t in $TARGETS; do
			[[ $t == blackhole || $t == gregor-sync ]] && continue
			bench "r$round-consumefan-$t" "$t" consume --topic "p16-r$round" --create=false \
				--consumers "$CONSUMERS" --fanout "$FANOUT"
		done
	fi
	if has "$SCENARIOS" consume16; then
		for t in $TARGETS; do
			[[ $t == blackhole || $t == gregor-sync ]] && continue
			bench "r$round-consume16-$t" "$t" consume --topic "p16-r$round" --create=false --delete --consumers "$CONSUMERS"
		done
	fi
	if has "$SCENARIOS" consumecold; then
		for t in $TARGETS; do
			[[ $t == gregor || $t == kafka ]] || continue
			# The fill is not measured (its JSON goes to fill-*.json).
			bench "fill-r$round-consumecold-$t" "$t" produce --topic "cold-r$round" --partitions 16 \
				--records "$COLD_RECORDS" "${COMMON[@]}" --linger 5ms
			if drop_caches; then
				log "consumecold: page cache dropped"
			else
				log "consumecold: could not drop the page cache (not root?): this read is warm"
				echo "r$round-consumecold-$t" >>"$OUT/warm.txt"
			fi
			bench "r$round-consumecold-$t" "$t" consume --topic "cold-r$round" --create=false --delete --consumers "$CONSUMERS"
		done
	fi
	if has "$SCENARIOS" consumetxn; then
		for t in $TARGETS; do
			[[ $t == gregor || $t == kafka ]] || continue
			bench "fill-r$round-consumetxn-$t" "$t" produce --topic "txn-r$round" --partitions 16 \
				--records "$TXN_RECORDS" "${COMMON[@]}" --transaction-records 1000
			bench "r$round-consumetxn-$t" "$t" consume --topic "txn-r$round" --create=false --delete \
				--consumers "$CONSUMERS" --read-committed
		done
	fi
	if has "$SCENARIOS" produce10k; then
		for t in $TARGETS; do
			[[ $t == gregor-sync ]] && continue
			bench "r$round-produce10k-$t" "$t" produce --topic "p10k-r$round" --partitions "$BIG_PARTITIONS" \
				--duration "$DURATION" --warmup "$WARMUP" "${COMMON[@]}" --delete
		done
	fi
	# Variants of produce16/produce10k: the flags after COMMON override it
	# (the last one counts), identically for every target.
	for scen in produce10krr acks1 lz4 zstd producers100 topics1000 topic8000; do
		has "$SCENARIOS" $scen || continue
		parts=16
		case $scen in
		produce10krr) parts=$BIG_PARTITIONS extra=(--partitioner round-robin) ;;
		acks1) extra=(--acks 1 --idempotent=false) ;;
		lz4 | zstd) extra=(--compression "$scen") ;;
		producers100) extra=(--producers 100) ;;
		topics1000) parts=8 extra=(--topics 1000 --producers 10 --partitioner round-robin) ;;
		topic8000) parts=8000 extra=(--producers 10 --partitioner round-robin) ;;
		esac
		for t in $TARGETS; do
			[[ $t == gregor-sync ]] && continue
			bench "r$round-$scen-$t" "$t" produce --topic "$scen-r$round" --partitions "$parts" \
				--duration "$DURATION" --warmup "$WARMUP" "${COMMON[@]}" "${extra[@]}" --delete
		done
	done
	rate=$(e2e_rate "$round")
	if has "$SCENARIOS" e2e; then
		for t in $TARGETS; do
			[[ $t == gregor-sync || $t == blackhole ]] && continue
			bench "r$round-e2e-$t" "$t" e2e --topic "e2e-r$round" --partitions 16 --rate "$rate" \
				--duration "$DURATION" --warmup "$WARMUP" "${COMMON[@]}" --delete
		done
	fi
	if has "$SCENARIOS" e2eroll; then
		# Stop the ordinary targets meanwhile, so the machine runs only
		# the one being measured (and Kafka's heap twice is not needed).
		for t in gregor kafka; do
			has "$TARGETS" $t || continue
			stop_target $t
			start_target $t-roll
			bench "r$round-e2eroll-$t" "$t-roll" e2e --topic "roll-r$round" --partitions 16 --rate "$rate" \
				--duration "$ROLL_DURATION" --warmup "$WARMUP" "${COMMON[@]}"
			stop_target $t-roll
			start_target $t
		done
	fi
	if has "$SCENARIOS" ackfloor && has "$TARGETS" blackhole; then
		bench "r$round-ackfloor-blackhole" blackhole produce --topic "floor-r$round" --partitions 16 \
			--rate "$rate" --duration "$DURATION" --warmup "$WARMUP" "${COMMON[@]}" --delete
	fi
done
echo "load after: $(cat /proc/loadavg)" >>"$OUT/env.txt"
disk
cleanup

python3 - "$OUT/meta.json" "$COMMIT" "$STARTED_AT" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" <<'EOF'
import json, sys
json.dump({"commit": sys.argv[2], "started": sys.argv[3], "ended": sys.argv[4]}, open(sys.argv[1], "w"))
EOF
python3 scripts/bench-report.py "$OUT" | tee "$OUT/results.md"

if [[ ${UPDATE_BENCHMARKS:-} == 1 ]]; then
	# The raw results stay in the repository beside the report made from
	# them: python3 scripts/bench-report.py bench/results makes it again.
	# A run for another section (UPDATE_SECTION) keeps its raw results
	# beside the whole table's: bench/results-<section's last word>.
	section=${UPDATE_SECTION:-bench.sh results}
	raw=bench/results
	[[ $section == "bench.sh results" ]] || raw=bench/results-${section##* }
	rm -rf "$raw"
	mkdir -p "$raw/runs"
	cp "$OUT"/runs/r*.json "$raw/runs/"
	for f in meta.json env.txt disk.txt warm.txt; do
		if [[ -f $OUT/$f ]]; then cp "$OUT/$f" "$raw/"; fi
	done
	python3 - "$OUT/results.md" BENCHMARKS.md "$section" <<'EOF'
import sys
results, doc, section = sys.argv[1], sys.argv[2], sys.argv[3]
begin, end = f"<!-- {section}: begin -->", f"<!-- {section}: end -->"
text = open(doc).read()
if begin not in text or end not in text:
    sys.exit(f"bench.sh: {doc} has no {begin} … {end} markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w").write(head + begin + "\n" + open(results).read().rstrip("\n") + "\n" + end + tail)
print(f"bench.sh: wrote the report into {doc}", file=sys.stderr)
EOF
fi
