package storage

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports: storage imports no other gregor package and no Kafka
// client, not even in tests (batches are bytes here).
func TestImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	banned := []string{"github.com/gregor-broker/gregor/", "franz-go", "sarama", "kafka-go", "confluent-kafka-go"}
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			for _, b := range banned {
				if strings.Contains(path, b) && !strings.HasPrefix(path, "github.com/gregor-broker/gregor/storage") {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d files checked", len(files))
	}
}
