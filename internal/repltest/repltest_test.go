package repltest

import (
	"strings"
	"testing"
)

// Diff tells apart what a replica comparison must: another range, other
// bytes, and a read that missed records.
func TestDiff(t *testing.T) {
	a := Partition{Start: 0, HWM: 3, Batches: []byte{1, 2, 3}, Records: 3, NumBatches: 1}
	for _, tc := range []struct {
		name string
		b    func(p Partition) Partition
		want string // "" = same
	}{
		{"same", func(p Partition) Partition { p.Batches = []byte{1, 2, 3}; return p }, ""},
		{"start", func(p Partition) Partition { p.Start = 1; return p }, "offsets 0..3 and 1..3"},
		{"hwm", func(p Partition) Partition { p.HWM = 2; return p }, "offsets 0..3 and 0..2"},
		{"bytes", func(p Partition) Partition { p.Batches = []byte{1, 2, 4}; return p }, "different bytes"},
		{"shorter", func(p Partition) Partition { p.Batches = []byte{1, 2}; return p }, "different bytes"},
	} {
		err := Diff(a, tc.b(a))
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	short := a
	short.Records = 2
	if err := Diff(short, short); err == nil || !strings.Contains(err.Error(), "read 2 records of 3") {
		t.Errorf("a read that missed a record: %v", err)
	}
}
