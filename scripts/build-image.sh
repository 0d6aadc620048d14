#!/usr/bin/env bash
# Builds gregor's container image without pulling anything: the static gregor
# binary, Debian's static busybox (the image's /bin/sh and shell tools, for
# the CMD-SHELL healthchecks of existing compose files) and static bash (for
# healthchecks written `bash -c 'echo > /dev/tcp/localhost/9092'`), then
# `docker build` FROM scratch around them (Dockerfile).
#
#   bash scripts/build-image.sh [TAG]     # default gregor:latest
#
# Needs Docker (scripts/install-docker.sh); installs busybox-static and
# bash-static through apt-get when they are absent (root).
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-gregor:latest}

need=()
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
dpkg -s bash-static >/dev/null 2>&1 || need+=(bash-static)
if ((${#need[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
		apt-get update -qq
		apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
	fi
fi

mkdir -p bin
CGO_ENABLED=0 go build -ldflags "-X main.version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}" -o bin/gregor ./cmd/gregor
cp /bin/busybox bin/busybox
cp /bin/bash-static bin/bash
docker build -q -t "$tag" . >/dev/null
echo "$tag"
