package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzLoad feeds arbitrary stored keys and values to the coordinator's
// rebuild: it must skip what it cannot read, never panic, and still serve.
func FuzzLoad(f *testing.F) {
	o := offset{offset: 5, leaderEpoch: 1, metadata: "m"}
	f.Add(offsetKey("g", "t", 0), offsetValue(o))
	gv := kmsg.NewGroupMetadataValue()
	gv.Version = 3
	gv.ProtocolType = "consumer"
	gv.Members = []kmsg.GroupMetadataValueMember{{MemberID: "m", SessionTimeoutMillis: 1000}}
	f.Add(groupKey("g"), gv.AppendTo(nil))
	f.Add([]byte{0, 2, 0, 1}, []byte{0, 3, 0xff})
	f.Add([]byte{0, 1}, []byte{})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		hang := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("hang on key %x value %x", key, value)) })
		defer hang.Stop()
		kv := newMemKV()
		ns := fmtNamespace(0)
		if err := kv.PutKV(ns, kvOf(key, value)); err != nil {
			t.Fatal(err)
		}
		c, err := newCoordinator(testConfig(), kv, newFakeClock(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.ListGroups(kmsg.NewPtrListGroupsRequest())
		for _, g := range c.snapshot() {
			c.FetchOffsets(g.id, nil, nil)
			c.DescribeGroups(&kmsg.DescribeGroupsRequest{Groups: []string{g.id}})
		}
	})
}
