.PHONY: run test build image up down deploy-test

run:
	go run ./cmd/gregor

# The static binary (also what the image holds); VERSION=v1.2.3 to name it.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
build:
	CGO_ENABLED=0 go build -ldflags "-X main.version=$(VERSION)" -o bin/gregor ./cmd/gregor

# The whole test suite, installing what it needs first (README, .ci/run).
# -count=1: the suite drives external processes, so a cached pass proves nothing.
test:
	bash scripts/install-deps.sh
	go vet ./...
	go test -count=1 -timeout 60m ./...
	@cat compat_test/results.md

# The FROM scratch image around the static binary (Dockerfile).
image: build
	docker build -t gregor:latest .

# gregor as a Kafka service in docker-compose (docker-compose.yml).
up: image
	docker-compose up -d gregor

down:
	docker-compose down

# Only the container test (needs root; installs Docker when absent).
deploy-test:
	go test -count=1 -v ./deploy_test/
