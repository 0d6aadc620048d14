package broker

// DescribeLogDirs (key 35), versions 1–5 (Kafka 4 removed 0).
//
// Behaviour:
//   - gregor has one data directory per broker (the commit log and the
//     consume queues of every partition), so the answer is one log dir: its
//     absolute path, and each requested partition with its size in the
//     store (Partition.Size) and an offset lag of 0 (no future replicas).
//   - A null topic list means every topic; unknown topics and partitions
//     are left out, as Kafka does.
//
// Versions:
//   - v4: the file system's total and usable bytes.
//   - v5: IsCordoned (KIP-1066); gregor cannot cordon a log dir, so false.

import (
	"context"
	"path/filepath"
	"syscall"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeLogDirs, 1, 5, handleDescribeLogDirs) }

func handleDescribeLogDirs(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeLogDirsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.Store.Dir
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir.Dir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	} else {
		dir.TotalBytes, dir.UsableBytes = -1, -1 // Kafka's "unknown"
	}
	describe := func(tp *Topic, partitions []int32) {
		t := kmsg.NewDescribeLogDirsResponseDirTopic()
		t.Topic = tp.Name
		for _, p := range partitions {
			if p < 0 || p >= tp.Partitions {
				continue
			}
			part := b.store.Partition(tp.ID, p)
			if part == nil {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p
			dp.Size = part.Size()
			t.Partitions = append(t.Partitions, dp)
		}
		if len(t.Partitions) > 0 {
			dir.Topics = append(dir.Topics, t)
		}
	}
	if r.Topics == nil {
		for _, tp := range b.topics.List() {
			all := make([]int32, tp.Partitions)
			for i := range all {
				all[i] = int32(i)
			}
			describe(tp, all)
		}
	} else {
		for _, rt := range r.Topics {
			if tp, ok := b.topics.Get(rt.Topic); ok {
				describe(tp, rt.Partitions)
			}
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}
