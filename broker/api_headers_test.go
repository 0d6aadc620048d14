package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Each broker/NN_*.go opens with one scannable line, "API (key NN),
// versions MIN–MAX", and that line stays true: the key is the file's number
// and the versions are the ones the file registers. The rest of the header
// takes one form (checkHeaderForm).
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
		if err := checkHeaderForm(string(src)); err != nil {
			t.Errorf("%s: %v", f, err)
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

// checkHeaderForm checks the one scannable form of an API file's header,
// the comment block after the package clause:
//
//	// API (key N), versions A–B.
//	//
//	// Optional paragraphs: what the API is for here.
//	//
//	// Behaviour:
//	//   - one bullet per rule, continued on lines indented
//	//     under its text
//	//
//	// Versions:
//	//   - vN+: what changes with the version
//
// "Versions:" may instead be followed by text on its own line ("Versions:
// the handler has no version-specific behaviour …"). Behaviour comes
// before Versions, Versions is last, and both hold only bullets.
func checkHeaderForm(src string) error {
	rest, ok := strings.CutPrefix(src, "package broker\n\n")
	if !ok {
		return fmt.Errorf("does not start with the package clause and a blank line")
	}
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(l, "//") {
			break
		}
		lines = append(lines, l)
	}
	if len(lines) < 2 || lines[1] != "//" {
		return fmt.Errorf("the first header line is not followed by an empty comment line")
	}
	behaviour, versions := -1, -1
	for i, l := range lines {
		switch {
		case l == "// Behaviour:":
			if behaviour >= 0 {
				return fmt.Errorf("two Behaviour: sections")
			}
			behaviour = i
		case strings.HasPrefix(l, "// Versions:"):
			if versions >= 0 {
				return fmt.Errorf("two Versions: sections")
			}
			versions = i
		}
	}
	if behaviour < 0 {
		return fmt.Errorf("no \"// Behaviour:\" line")
	}
	if versions < 0 {
		return fmt.Errorf("no \"// Versions:\" line")
	}
	if versions < behaviour {
		return fmt.Errorf("Versions: comes before Behaviour:")
	}
	if lines[behaviour-1] != "//" || lines[versions-1] != "//" {
		return fmt.Errorf("Behaviour: and Versions: each follow an empty comment line")
	}
	// bullets checks that lines are bullets and their continuations.
	bullets := func(section string, ls []string) error {
		if len(ls) == 0 || !strings.HasPrefix(ls[0], "//   - ") {
			return fmt.Errorf("%s does not start with a bullet (\"//   - \")", section)
		}
		for _, l := range ls {
			if !strings.HasPrefix(l, "//   - ") && !strings.HasPrefix(l, "//     ") {
				return fmt.Errorf("%s holds %q, neither a bullet nor its continuation", section, l)
			}
		}
		return nil
	}
	if err := bullets("Behaviour:", lines[behaviour+1:versions-1]); err != nil {
		return err
	}
	if lines[versions] == "// Versions:" {
		return bullets("Versions:", lines[versions+1:])
	}
	for _, l := range lines[versions+1:] {
		if l == "//" {
			return fmt.Errorf("Versions: is the last section; a paragraph follows it")
		}
	}
	return nil
}
