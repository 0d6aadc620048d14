package broker

// A differential test of the admin APIs: the same requests go to a real
// Kafka broker and to gregor, and their error codes must agree except where
// gregor differs on purpose (internal/kafkadiff lists the cases and the
// intended differences). `make test` runs it in compat_test against the
// reference Kafka the client matrix starts (TestAdminMatchesKafka there);
// this copy runs against an in-process broker when GREGOR_REFERENCE_KAFKA
// names a fresh single-node Kafka 4 (node.id 1), e.g. one started by
// scripts/kafka.sh:
//
//	scripts/kafka.sh start 39092 /tmp/refkafka
//	GREGOR_REFERENCE_KAFKA=127.0.0.1:39092 go test ./broker -run TestAdminMatchesKafka

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/kafkadiff"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestAdminMatchesKafka(t *testing.T) {
	ref := os.Getenv("GREGOR_REFERENCE_KAFKA")
	if ref == "" {
		t.Skip("GREGOR_REFERENCE_KAFKA not set (address of a single-node Kafka 4, node.id 1); " +
			"compat_test's TestAdminMatchesKafka runs the same comparison in make test")
	}
	prefix := fmt.Sprintf("r%d-", time.Now().UnixNano()%1e6) // a reused Kafka keeps old topics
	kcl, err := kgo.NewClient(kgo.SeedBrokers(ref))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	want := kafkadiff.AdminCases(t, kcl, prefix)

	b, _, stop := admServe(t, t.TempDir())
	defer stop()
	gcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	defer gcl.Close()
	got := kafkadiff.AdminCases(t, gcl, prefix)
	t.Logf("%d of %d answers identical", kafkadiff.Compare(t, want, got), len(want))
}
