package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeTransactionsStartTime: a completed transaction keeps its start
// time in DescribeTransactions, as Kafka's coordinator keeps
// txnStartTimestamp until the next InitProducerId (kafka-transactions
// describe prints it and the duration for CompleteCommit and CompleteAbort;
// gregor answered -1, so the tool printed None).
func TestDescribeTransactionsStartTime(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "tx", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(grpClient(t, addr))
	defer adm.Close()
	describe := func() kadm.DescribedTransaction {
		t.Helper()
		dts, err := adm.DescribeTransactions(ctx, "txn-start")
		if err != nil || dts["txn-start"].Err != nil {
			t.Fatalf("describe: %v %+v", err, dts)
		}
		return dts["txn-start"]
	}

	cl := txnProducer(t, addr, "txn-start", "tx")
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	open := describe()
	if open.State != "Ongoing" || open.StartTimestamp <= 0 {
		t.Fatalf("open: %+v", open)
	}
	for _, commit := range []bool{true, false} {
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{true: "CompleteCommit", false: "CompleteAbort"}[commit]
		if d := describe(); d.State != want || d.StartTimestamp != open.StartTimestamp {
			t.Fatalf("after the end (commit %v): state %s, start %d; want %s, start %d (the transaction's)",
				commit, d.State, d.StartTimestamp, want, open.StartTimestamp)
		}
		if commit {
			// The next transaction, aborted.
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			open = describe()
		}
	}

	// InitProducerId (a new producer of the id) empties it: -1 again.
	init := kmsg.NewPtrInitProducerIDRequest()
	tid := "txn-start"
	init.TransactionalID, init.TransactionTimeoutMillis, init.ProducerID, init.ProducerEpoch = &tid, 30000, -1, -1
	if resp, err := init.RequestWith(ctx, grpClient(t, addr)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %+v", err, resp)
	}
	if d := describe(); d.State != "Empty" || d.StartTimestamp != -1 {
		t.Fatalf("after InitProducerId: state %s, start %d; want Empty, -1", d.State, d.StartTimestamp)
	}
}
