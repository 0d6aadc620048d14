package broker

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// Each broker/NN_*.go opens with one scannable line, "API (key NN),
// versions MIN–MAX", and that line stays true: the key is the file's number
// and the versions are the ones the file registers.
func TestAPIFileHeaders(t *testing.T) {
	files, err := filepath.Glob("[0-9][0-9]_*.go")
	if err != nil {
		t.Fatal(err)
	}
	header := regexp.MustCompile(`(?m)^package broker\n\n// [A-Za-z]+ \(key (\d+)\), versions? (\d+)(?:–(\d+))?[.:;, ]`)
	reg := regexp.MustCompile(`register\(kmsg\.[A-Za-z]+, (\d+), (\d+),`)
	n := 0
	for _, f := range files {
		if filepath.Ext(f) != ".go" || len(f) > 8 && f[len(f)-8:] == "_test.go" {
			continue
		}
		n++
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h := header.FindSubmatch(src)
		r := reg.FindSubmatch(src)
		if h == nil || r == nil {
			t.Errorf("%s: no header line \"API (key N), versions A–B\" (%v) or no register call (%v)", f, h != nil, r != nil)
			continue
		}
		key, _ := strconv.Atoi(f[:2])
		hmax := h[3]
		if hmax == nil {
			hmax = h[2]
		}
		if string(h[1]) != strconv.Itoa(key) || string(h[2]) != string(r[1]) || string(hmax) != string(r[2]) {
			t.Errorf("%s: header says key %s versions %s–%s; the file is key %d and registers %s–%s", f, h[1], h[2], hmax, key, r[1], r[2])
		}
	}
	if n < 20 {
		t.Fatalf("only %d API files found", n)
	}
}
