package pricing_test

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps pricing a pure domain leaf: stdlib (no network), geo and
// the geohash grid only.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/ridehail/dispatch/geo": true,
		"github.com/mmcloughlin/geohash":   true,
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			stdlib := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
			if allowed[path] || stdlib && !strings.HasPrefix(path, "net") && path != "log" && !strings.HasPrefix(path, "log/") {
				continue
			}
			t.Errorf("%s imports %s: pricing must stay a pure leaf", name, path)
		}
	}
}
