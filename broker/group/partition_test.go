package group

import "testing"

// The expected values were printed by Kafka 4.1.1's own code (jshell with the
// kafka jars: s.hashCode() and org.apache.kafka.common.utils.Utils.abs(
// s.hashCode()) % n), not derived from the formula under test.
func TestPartitionForMatchesKafka(t *testing.T) {
	for _, c := range []struct {
		group   string
		hash    int32
		p50, p7 int32
	}{
		{"", 0, 0, 0},
		{"g1", 3242, 42, 1},
		{"test", 3556498, 48, 1},
		{"console-consumer-12345", 158455506, 6, 6},
		{"gr\U0001F600", 4950926, 26, 1}, // a surrogate pair in UTF-16
		{"été-group", 2089309584, 34, 5}, // non-ASCII, one UTF-16 unit each
		// Negative hashes: Utils.abs(h) = -h, where h & 0x7fffffff
		// (what placement used to compute) gives 44 and 36 out of 50.
		{"consumer-group-negative", -548440454, 4, 2},
		{"zzzzzzzz", -1910022912, 12, 0},
		// Integer.MIN_VALUE: Utils.abs gives 0.
		{"polygenelubricants", -1 << 31, 0, 0},
		{"GydZG_", -1 << 31, 0, 0},
	} {
		if h := javaHashCode(c.group); h != c.hash {
			t.Errorf("javaHashCode(%q) = %d, want %d", c.group, h, c.hash)
		}
		if p := PartitionFor(c.group, 50); p != c.p50 {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", c.group, p, c.p50)
		}
		if p := PartitionFor(c.group, 7); p != c.p7 {
			t.Errorf("PartitionFor(%q, 7) = %d, want %d", c.group, p, c.p7)
		}
		if p := PartitionFor(c.group, 1); p != 0 {
			t.Errorf("PartitionFor(%q, 1) = %d, want 0", c.group, p)
		}
	}
}
