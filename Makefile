.PHONY: run test build

run:
	go run ./cmd/gregor

build:
	CGO_ENABLED=0 go build -o bin/gregor ./cmd/gregor

# The whole test suite, installing what it needs first (README, .ci/run).
test:
	bash scripts/install-deps.sh
	go vet ./...
	go test -timeout 60m ./...
