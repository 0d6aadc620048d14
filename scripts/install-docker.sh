#!/usr/bin/env bash
# Installs Debian's Docker engine (docker.io) and docker-compose 1.29 when they
# are absent, and starts dockerd when no daemon answers. Idempotent: run it as
# often as you like; it does nothing when Docker already works.
#
# Used by deploy_test/ (the container test) through scripts/install-deps.sh.
# Needs root (apt-get, dockerd); prints what it does on stderr.
set -euo pipefail

log() { echo "install-docker: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "not root; skipping (the container test skips too)"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# dockerd needs iptables to set up the bridge network's NAT.
command -v iptables >/dev/null 2>&1 || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	# Update the lists only when apt does not know the packages yet.
	if ! apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
		apt-get update -qq
		apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
	fi
fi

if docker info >/dev/null 2>&1; then
	exit 0
fi

# alive PID NAME: is PID a running (not zombie) process called NAME?
alive() {
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] &&
		! awk '{exit ($3 == "Z") ? 0 : 1}' "/proc/$1/stat"
}

# A daemon that is still starting: give it time rather than a rival.
pid=$(cat /var/run/docker.pid 2>/dev/null || true)
if alive "$pid" dockerd; then
	for _ in $(seq 1 60); do
		docker info >/dev/null 2>&1 && exit 0
		sleep 0.5
	done
	log "dockerd (pid $pid) runs but does not answer"
	exit 1
fi
# Files left by a daemon that was killed (a machine handed on, a CI run that
# ended everything) make a new dockerd or its containerd refuse to start.
rm -f /var/run/docker.pid
cpid=$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null || true)
if ! alive "$cpid" containerd; then
	rm -f /var/run/docker/containerd/containerd.pid
fi

# No daemon answers: start one. There is no init system to ask in a bare
# container or VM, so run dockerd directly, detached, logging to a file.
logfile=/var/log/gregor-dockerd.log
started=
start() {
	log "starting dockerd $* (log: $logfile)"
	nohup dockerd "$@" >>"$logfile" 2>&1 </dev/null &
	started=$!
	for _ in $(seq 1 60); do
		if docker info >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$started" 2>/dev/null; then
			return 1
		fi
		sleep 0.5
	done
	return 1
}
if start; then
	exit 0
fi
# Kernels without the netfilter modules dockerd wants: publish ports through
# docker-proxy alone. Containers still reach each other on the compose network.
log "dockerd did not start; retrying without iptables"
kill "$started" 2>/dev/null || true
sleep 1
rm -f /var/run/docker.pid
if start --iptables=false --ip6tables=false; then
	exit 0
fi
log "dockerd did not start; last lines of $logfile:"
tail -n 20 "$logfile" >&2
exit 1
