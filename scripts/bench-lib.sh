# Shared by scripts/bench.sh and scripts/bench-txn.sh (sourced, not run):
# logging, ports, the targets' bookkeeping and one bench run. The sourcing
# script sets OUT (its results folder) and BIN (the gregor binary), and
# starts its own targets (start_target), recording each in ADDR, PID and
# STARTED; stop_target and cleanup stop them, Kafka through scripts/kafka.sh.

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

# start_kafka PORT: the reference Kafka on PORT, data in OUT/kafka (wiped),
# with KAFKA_JVM_OPTS; sets PID[kafka].
start_kafka() {
	rm -rf "${OUT:?}/kafka"
	KAFKA_JVM_OPTS=$KAFKA_JVM_OPTS scripts/kafka.sh start "$1" "$OUT/kafka" >>"$OUT/kafka-start.log" 2>&1
	PID[kafka]=$(cat "$OUT/kafka/kafka.pid")
}

# started NAME PORT: waits for the target's port and records it as running.
started() {
	wait_port "$2"
	STARTED+=("$1")
	log "started $1 on ${ADDR[$1]} (pid ${PID[$1]})"
}

stop_target() {
	local name=$1
	[[ -n "${PID[$name]:-}" ]] || return 0
	if [[ $name == kafka || $name == kafka-roll ]]; then
		scripts/kafka.sh stop "$OUT/$name" || true
	else
		kill "${PID[$name]}" 2>/dev/null || true
		wait "${PID[$name]}" 2>/dev/null || true
	fi
	PID[$name]=
	local rest=()
	for s in "${STARTED[@]}"; do [[ $s == "$name" ]] || rest+=("$s"); done
	STARTED=("${rest[@]}")
}

cleanup() {
	for name in "${STARTED[@]}"; do stop_target "$name"; done
}

# drop_caches: writes dirty pages out and drops the page cache, so what is
# read next comes from the disk; returns 1 when it cannot (not root).
drop_caches() {
	sync
	{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null
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
