package storage

// PLACEHOLDER: the storage owner replaces this file with the real store. It
// exists so that the packages built on the API compile from the first commit.

import "os"

// FS is the filesystem seam (real OS or in-memory for fault tests).
type FS interface{}

// Store is the MetaQ store of one broker: one commit log, a consume queue per
// partition, the dispatcher and internal key/value state.
type Store struct{}

// Partition is one Kafka partition (a MetaQ queue) of the store.
type Partition struct{}

type osFile struct{ *os.File }

func (f osFile) OS() *os.File { return f.File }

func notYet() { panic("storage: not implemented yet") }

func Open(cfg Config) (*Store, error)                                   { notYet(); return nil, nil }
func (s *Store) Close() error                                           { notYet(); return nil }
func (s *Store) CreatePartition(t TopicID, p int32) (*Partition, error) { notYet(); return nil, nil }
func (s *Store) Partition(t TopicID, p int32) *Partition                { notYet(); return nil }
func (s *Store) DeleteTopic(t TopicID) error                            { notYet(); return nil }
func (s *Store) PutKV(ns string, kvs ...KV) error                       { notYet(); return nil }
func (s *Store) GetKV(ns string, key []byte) ([]byte, bool)             { notYet(); return nil, false }
func (s *Store) RangeKV(ns string, fn func(key, value []byte) bool)     { notYet() }
func (s *Store) DiskUsage() int64                                       { notYet(); return 0 }
func (s *Store) EndPosition() int64                                     { notYet(); return 0 }
func (s *Store) ReadRaw(pos int64, max int) ([]byte, error)             { notYet(); return nil, nil }
func (s *Store) AppendRaw(pos int64, data []byte) error                 { notYet(); return nil }

func (p *Partition) Append(batch []byte, leaderEpoch int32) (AppendResult, error) {
	notYet()
	return AppendResult{}, nil
}
func (p *Partition) Read(offset int64, maxBytes int32) (*ReadResult, error) {
	notYet()
	return nil, nil
}
func (p *Partition) Watch(fn func()) (cancel func()) { notYet(); return nil }
func (p *Partition) HighWatermark() int64            { notYet(); return 0 }
func (p *Partition) LogStartOffset() int64           { notYet(); return 0 }
func (p *Partition) OffsetForTime(ts int64) (offset, timestamp int64, ok bool) {
	notYet()
	return 0, 0, false
}
func (p *Partition) MaxTimestamp() (timestamp, offset int64) { notYet(); return 0, 0 }
func (p *Partition) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	notYet()
	return 0, 0
}
func (p *Partition) LeaderEpoch() int32                              { notYet(); return 0 }
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) { notYet(); return 0, nil }
func (p *Partition) SetRetention(RetentionPolicy)                    { notYet() }
func (p *Partition) Size() int64                                     { notYet(); return 0 }
