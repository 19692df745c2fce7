package openapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/spacecast/spacecast/controlplane/api"
	"github.com/spacecast/spacecast/controlplane/openapi"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.golden.json")

// TestGolden guards the document of the API's route table: run with
// -update after a deliberate change and review the diff.
func TestGolden(t *testing.T) {
	got, err := openapi.Document(api.Operations())
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(got) {
		t.Fatal("document is not valid JSON")
	}
	golden := filepath.Join("testdata", "openapi.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the document differs from testdata/openapi.golden.json; run go test ./controlplane/openapi -update and review the diff")
	}
}

// TestRefsResolve: every $ref names a component that exists.
func TestRefsResolve(t *testing.T) {
	b, err := openapi.Document(api.Operations())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	comps := doc["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var kind, name string
				if _, err := fmtSscan(ref, &kind, &name); err != nil {
					t.Errorf("bad $ref %q", ref)
					return
				}
				if _, ok := comps[kind].(map[string]any)[name]; !ok {
					t.Errorf("$ref %q does not resolve", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
}

// fmtSscan splits "#/components/<kind>/<name>".
func fmtSscan(ref string, kind, name *string) (int, error) {
	const p = "#/components/"
	if len(ref) <= len(p) || ref[:len(p)] != p {
		return 0, os.ErrInvalid
	}
	rest := ref[len(p):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			*kind, *name = rest[:i], rest[i+1:]
			return 2, nil
		}
	}
	return 0, os.ErrInvalid
}
