package bench

// Transactions (--transaction-records N): each producer client gets its own
// transactional id and commits a transaction every N records, so a run
// measures what transactions cost against the same run without them;
// --read-committed makes consumers read with isolation.level
// read_committed. A record counts when acknowledged, as without
// transactions; a failed commit counts as an error.

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// txnOpts are the options making producer i transactional.
func txnOpts(cfg *Config, i int) []kgo.Opt {
	if cfg.TxnRecords <= 0 {
		return nil
	}
	id := fmt.Sprintf("gregor-bench-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), i)
	return []kgo.Opt{kgo.TransactionalID(id), kgo.TransactionTimeout(60 * time.Second)}
}

// isolation is the consumers' isolation level. Control records (the
// transaction markers) are kept so a consumer sees the marker that ends a
// topic and stops there; they are not counted as records.
func isolation(cfg *Config) kgo.Opt {
	if cfg.ReadCommitted {
		return kgo.FetchIsolationLevel(kgo.ReadCommitted())
	}
	return kgo.FetchIsolationLevel(kgo.ReadUncommitted())
}

// keepControl keeps control records in fetches (see isolation).
var keepControl = kgo.KeepControlRecords()

// nextTxn is called before record sent: it commits the open transaction
// every p.txn records and begins the next. false when a transaction failed.
func (p *producer) nextTxn(ctx context.Context, sent int64) bool {
	if p.txn <= 0 {
		return true
	}
	if p.inTxn && sent%int64(p.txn) == 0 && !p.endTxn(ctx) {
		return false
	}
	if !p.inTxn {
		if err := p.cl.BeginTransaction(); err != nil {
			p.errs.set(err)
			return false
		}
		p.inTxn = true
	}
	return true
}

// endTxn flushes and commits the open transaction, if any.
func (p *producer) endTxn(ctx context.Context) bool {
	if !p.inTxn {
		return true
	}
	p.inTxn = false
	if err := p.cl.Flush(ctx); err != nil {
		p.errs.set(fmt.Errorf("flush before commit: %w", err))
		return false
	}
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		p.sh.fail()
		p.errs.set(fmt.Errorf("commit: %w", err))
		return false
	}
	return true
}
