package broker

// Admin writes on a replicated master: the answer waits until the in-sync
// slaves hold the change, so a client that next asks a slave (Kafka's admin
// client sends DescribeConfigs, Metadata and the like to any broker) finds
// the topic or setting there, and a slave promoted later has it.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// adminReplicationWait bounds that wait. On time-out the answer goes out
// anyway: the change is durable on the master and reaches a slave when it
// catches up (a slave that lags that far drops out of the ISR).
const adminReplicationWait = 5 * time.Second

// awaitInSync returns once every in-sync slave has this master's commit log
// up to its current end, or after adminReplicationWait.
func (b *Broker) awaitInSync(ctx context.Context) {
	m := b.replicationMaster()
	if m == nil || !b.isMaster() {
		return
	}
	m.Notify()
	ctx, cancel := context.WithTimeout(ctx, adminReplicationWait)
	defer cancel()
	_ = m.WaitReplicated(ctx, b.store.EndPosition(), 1)
}

// pinnedVersion makes a kgo client send a forwarded request at the version
// the client used, not the highest both sides know: fields move between
// versions (DeleteTopics v6 names topics in Topics, not TopicNames), and
// the answer must be one the client can read at its version.
type pinnedVersion struct{ kmsg.Request }

func (p pinnedVersion) MaxVersion() int16 { return p.GetVersion() }
