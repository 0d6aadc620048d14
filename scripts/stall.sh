#!/usr/bin/env bash
# make stall (issue 14 item 5): a fixed-rate producer→consumer run across
# segment rolls, retention deletions and checkpoints, reporting the longest
# end-to-end latency of any record with the machine's load. STALL_RATE
# (20000 records/s), STALL_DURATION (10m); the rest is scripts/soak.sh's.
MODE=stall exec "$(dirname "$0")/soak.sh" "$@"
