package replication

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports: replication imports storage and no other gregor package
// (the broker imports replication, never the other way).
func TestImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if strings.HasPrefix(path, "github.com/gregor-broker/gregor/") && path != "github.com/gregor-broker/gregor/storage" {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
	if len(files) < 5 {
		t.Fatalf("only %d files checked", len(files))
	}
}
