package group

import "unicode/utf16"

// PartitionFor is the __consumer_offsets partition of a group among n:
// Kafka's GroupCoordinator.partitionFor, Utils.abs(groupId.hashCode) % n.
// It is the only copy of the formula: the broker picks a group's coordinator
// with it and the coordinator files the group's state under it, so the two
// can never disagree (a group whose coordinator holds one partition while
// its offsets sit in another loses them when ownership moves).
//
// Utils.abs is not Math.abs: it maps Integer.MIN_VALUE to 0 (Math.abs would
// leave it negative), and a negative hash h gives -h, not h & 0x7fffffff.
func PartitionFor(group string, n int32) int32 {
	h := javaHashCode(group)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}

// javaHashCode is java.lang.String.hashCode: s[0]*31^(n-1) + … over the
// UTF-16 code units (a rune past U+FFFF counts as its surrogate pair),
// wrapping at 32 bits.
func javaHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}
