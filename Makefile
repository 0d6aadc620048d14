.PHONY: run test fuzz build image up down deploy-test jepsen compaction-1g rolling failover-timing restart-scale soak stall test-security-long test-kip848

run:
	go run ./cmd/gregor

# The static binary (also what the image holds); VERSION=v1.2.3 to name it.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
build:
	CGO_ENABLED=0 go build -ldflags "-X main.version=$(VERSION)" -o bin/gregor ./cmd/gregor

# The whole test suite, installing what it needs first (README, .ci/run).
# -count=1: the suite drives external processes, so a cached pass proves nothing.
# Then every fuzzer runs with Go's fuzzing engine for FUZZTIME each (14 of them:
# about 3 minutes with the builds), from the corpus in testdata/fuzz.
FUZZTIME ?= 8s
test:
	bash scripts/install-deps.sh
	go vet ./...
	go test -count=1 -timeout 60m ./...
	cd deploy && go vet ./... && go test -count=1 -timeout 10m ./...
	bash scripts/fuzz.sh $(FUZZTIME)
	@cat compat_test/results.md

# Longer fuzzing (FUZZ_LONG each, FUZZ_MATCH='pkg FuzzName' for a subset); the
# inputs the engine finds interesting are copied into each package's
# testdata/fuzz/<FuzzName>/: commit them, and `make test` replays them.
FUZZ_LONG ?= 2m
fuzz:
	bash scripts/fuzz.sh -save $(FUZZ_LONG)

# The FROM scratch image around the static binary (Dockerfile).
image:
	bash scripts/build-image.sh gregor:latest

# gregor as a Kafka service in docker-compose (docker-compose.yml).
up: image
	docker-compose up -d gregor

down:
	docker-compose down

# Only the container test (needs root; installs Docker when absent).
deploy-test:
	go test -count=1 -v ./deploy_test/

# The Jepsen-style fault test (cluster_test/jepsen_test.go) run long in both
# replication modes (JEPSEN_DURATION each),
# writing its results table to cluster_test/jepsen-results.md.
JEPSEN_DURATION ?= 10m
jepsen:
	JEPSEN_DURATION=$(JEPSEN_DURATION) JEPSEN_RESULTS=$(CURDIR)/cluster_test/jepsen-results.md \
		go test -count=1 -v -timeout 60m -run 'TestJepsen$$' ./cluster_test/

# Compaction reclaiming disk at full size: 1 GiB of records over 1,000 keys
# beside a short-retention topic (make test runs the 48 MiB version).
compaction-1g:
	GREGOR_COMPACT_BYTES=1073741824 go test -count=1 -v -timeout 30m -run 'TestCompactionReclaimsDisk$$' ./storage/

# The operations tests run long (cluster_test/rolling_test.go,
# failover_timing_test.go; make test runs one round and 2 kills): a rolling
# restart of the whole cluster ROLLING_ROUNDS times with gregor's default
# intervals, and FAILOVER_KILLS master kills with default settings, printing
# the median and worst time until writes resume and the brokers' Metadata
# names the new leader (the figures in docs/replication.md).
ROLLING_ROUNDS ?= 3
rolling:
	ROLLING_ROUNDS=$(ROLLING_ROUNDS) ROLLING_DEFAULTS=1 \
		go test -count=1 -v -timeout 60m -run 'TestRollingRestart$$' ./cluster_test/

FAILOVER_KILLS ?= 10
failover-timing:
	FAILOVER_KILLS=$(FAILOVER_KILLS) go test -count=1 -v -timeout 60m -run 'TestFailoverTiming$$' ./cluster_test/

# Restart after SIGKILL at scale (issue 14 item 6; cluster_test/restart_scale_test.go):
# a gregor standalone is filled with RESTART_BYTES of 1 KiB records over
# RESTART_PARTITIONS partitions (default 1 GiB segments and 10 s checkpoints),
# killed while writing, started again; prints the time until a produce is
# acknowledged and a fetch answered, and the store's recovery line. Needs
# RESTART_BYTES plus two segments of free disk. make test runs 32 MiB over
# 1,000 partitions.
RESTART_BYTES ?= 10737418240
RESTART_PARTITIONS ?= 10000
restart-scale:
	GREGOR_RESTART_BYTES=$(RESTART_BYTES) GREGOR_RESTART_PARTITIONS=$(RESTART_PARTITIONS) \
		go test -count=1 -v -timeout 60m -run 'TestRestartAtScale$$' ./cluster_test/

# Every KIP-848 Java scenario with every Java client version, both migration
# rolls (make test runs the previous version's cooperative roll only): about
# five minutes more on kafka and gregor.
test-kip848:
	GREGOR_KIP848_FULL=1 COMPAT_TARGETS=$${COMPAT_TARGETS:-kafka,gregor} go test -count=1 -v -timeout 40m -run 'TestKIP848' ./compat_test/

# The security clients' scenarios (compat_test/security_clients_test.go) with
# each client program's own retry bound on a connection that keeps failing
# (15-20 s; make test gives them 5 s), and Kafka's tools over every secure
# connection (security_tools_test.go; make test runs SCRAM-SHA-512 only):
# about seven minutes more.
test-security-long:
	GREGOR_SEC_REFUSAL_WAIT=default GREGOR_SECURITY_LONG=1 go test -count=1 -v -timeout 40m -run 'TestSecurityClients|TestSecurityTools' ./compat_test/

# Long runs of gregor standalone under `gregor bench e2e` (scripts/soak.sh),
# not in make test; each writes a results table with the commit and the
# machine's load (OUT/results.md, printed). Full runs need a quiet machine.
# soak (issue 14 item 7): produce+consume at 70 % of a maximum measured first,
# SOAK_DURATION long, with retention deleting 64 MiB segments: throughput of
# the last 5 minutes against the first 5, the broker's RSS sampled every 5 s.
# stall (issue 14 item 5): a fixed STALL_RATE for STALL_DURATION across
# segment rolls, retention deletions and checkpoints: the longest end-to-end
# latency of any record. SOAK_DURATION=20s / STALL_DURATION=20s check the
# harness in about a minute.
SOAK_DURATION ?= 30m
STALL_DURATION ?= 10m
STALL_RATE ?= 20000
soak:
	SOAK_DURATION=$(SOAK_DURATION) bash scripts/soak.sh $(OUT)
stall:
	STALL_DURATION=$(STALL_DURATION) STALL_RATE=$(STALL_RATE) bash scripts/stall.sh $(OUT)
