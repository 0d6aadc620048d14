// deploy/ is a module of its own so that its tests can use Prometheus's
// PromQL parser (github.com/prometheus/prometheus/promql/parser) to read the
// dashboard's and alert rules' expressions. In the repository's module that
// dependency changed the versions of 65 modules the broker and the compat
// tests build with (golang.org/x/*, Docker, AWS …) and added 50 more, as
// prometheus/prometheus requires the clients of its service discovery; here
// it touches nothing else. The tests build and
// run the gregor binary of the repository (cd ..; go build ./cmd/gregor).
module github.com/gregor-broker/gregor/deploy

go 1.26.8

require (
	github.com/prometheus/common v0.74.0
	github.com/prometheus/prometheus v0.316.0
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kadm v1.20.0
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dennwc/varint v1.0.0 // indirect
	github.com/grafana/regexp v0.0.0-20250905093917-f7b3be9d1853 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pandatix/go-abnf v0.5.5 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
