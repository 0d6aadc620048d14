package console

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package direction one way (STYLE.md): the console
// reaches the broker through the Kafka API and the handler cmd/gregor
// gives it, so its shipped files import no gregor package but nameserver
// (the route reader) and internal/httpauth (the login's user and CSRF
// token).
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/gregor-broker/gregor/nameserver":        true,
		"github.com/gregor-broker/gregor/internal/httpauth": true,
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/gregor-broker/gregor/") && !allowed[p] {
				t.Errorf("%s imports %s: the console talks to the broker through the Kafka API", f, p)
			}
		}
	}
}
