package main

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestUserCommand adds, lists and deletes a SCRAM user of a gregor broker
// and logs in with it on a SASL_PLAINTEXT listener in between.
func TestUserCommand(t *testing.T) {
	clearEnv(t)
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"},
			{Name: "SASL_PLAINTEXT", Address: "127.0.0.1:0", Protocol: broker.ProtoSASLPlaintext}},
		Store: storage.Config{Dir: t.TempDir(), SegmentBytes: 4 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	}()
	plain, sasl := b.Addrs()[0].String(), b.Addrs()[1].String()
	login := func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(sasl), kgo.SASL(scram.Auth{User: "erin", Pass: "erin-pw"}.AsSha512Mechanism()))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return cl.Ping(ctx)
	}

	if out, err := runCLI(t, "user", "add", "-b", plain, "erin", "--password", "erin-pw"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	var rows []userRow
	mustJSON(t, &rows, "user", "list", "-b", plain)
	if len(rows) != 2 || rows[0].User != "erin" || rows[0].Mechanism != "SCRAM-SHA-256" || rows[1].Mechanism != "SCRAM-SHA-512" || rows[1].Iterations != 8192 {
		t.Fatalf("user list: %+v", rows)
	}
	if err := login(); err != nil {
		t.Fatalf("login after add: %v", err)
	}
	if out, err := runCLI(t, "user", "delete", "-b", plain, "erin"); err != nil {
		t.Fatalf("user delete: %v\n%s", err, out)
	}
	if err := login(); err == nil {
		t.Fatal("erin still logs in after delete")
	}
	if out, err := runCLI(t, "user", "add", "-b", plain, "x", "--password", "p", "--iterations", "10"); err == nil {
		t.Fatalf("too few iterations accepted:\n%s", out)
	}
}
