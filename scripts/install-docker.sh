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

# No daemon answers: start one. There is no init system to ask in a bare
# container or VM, so run dockerd directly, detached, logging to a file.
logfile=/var/log/gregor-dockerd.log
start() {
	log "starting dockerd $* (log: $logfile)"
	nohup dockerd "$@" >>"$logfile" 2>&1 </dev/null &
	for _ in $(seq 1 60); do
		if docker info >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 $! 2>/dev/null; then
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
pkill -x dockerd 2>/dev/null || true
sleep 1
rm -f /var/run/docker.pid
if start --iptables=false --ip6tables=false; then
	exit 0
fi
log "dockerd did not start; last lines of $logfile:"
tail -n 20 "$logfile" >&2
exit 1
