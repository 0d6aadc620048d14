package broker

// ListTransactions (key 66), versions 0–2.
//
// Lists the transactional ids this broker coordinates.
//
// Behaviour:
//   - A slave coordinates none and lists none (the admin client asks every
//     broker).
//   - Filtered by state names and producer ids; unknown state names are
//     echoed in UnknownStateFilters, as Kafka does.
//
// Versions:
//   - v1+: DurationFilterMillis (>= 0) keeps only the ids whose last
//     transaction started longer ago than it, whatever their state, as
//     Kafka's TransactionStateManager does.
//   - v2+ (KIP-1152): TransactionalIDPattern, a regular expression the
//     whole id must match (Java's Matcher.matches; RE2 syntax here, which
//     agrees with Java's for ordinary patterns); empty or null matches
//     every id; one that does not compile gets INVALID_REGULAR_EXPRESSION.

import (
	"context"
	"regexp"
	"time"

	"github.com/gregor-broker/gregor/broker/txn"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListTransactions, 0, 2, handleListTransactions) }

func handleListTransactions(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListTransactionsRequest)
	resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[string]bool{}
	for _, s := range r.StateFilters {
		known := false
		for st := txn.Empty; st <= txn.CompleteAbort; st++ {
			known = known || st.String() == s
		}
		if !known {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
		states[s] = true
	}
	pids := map[int64]bool{}
	for _, p := range r.ProducerIDFilters {
		pids[p] = true
	}
	var pattern *regexp.Regexp
	if r.Version >= 2 && r.TransactionalIDPattern != nil && *r.TransactionalIDPattern != "" {
		var err error
		if pattern, err = regexp.Compile(`^(?:` + *r.TransactionalIDPattern + `)$`); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
	}
	if !b.isMaster() {
		return resp, nil
	}
	now := time.Now().UnixMilli()
	for _, m := range b.txns().List() {
		switch {
		case len(states) > 0 && !states[m.State.String()]:
			continue
		case len(pids) > 0 && !pids[m.ProducerID]:
			continue
		case r.Version >= 1 && r.DurationFilterMillis >= 0 && now-m.StartMs <= r.DurationFilterMillis:
			continue
		case pattern != nil && !pattern.MatchString(m.ID):
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = m.ID, m.ProducerID, m.State.String()
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
