package bwe

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/fuzz seeds")

// TestFuzzSeedsCommitted keeps testdata/fuzz/FuzzFeedback in step with
// fuzzSeeds (go test -run FuzzSeeds -update rewrites it).
func TestFuzzSeedsCommitted(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzFeedback")
	for _, s := range fuzzSeeds(t) {
		sum := sha256.Sum256(s)
		name := filepath.Join(dir, fmt.Sprintf("seed-%x", sum[:8]))
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != body {
			t.Errorf("%s missing or stale (go test -run FuzzSeeds -update): %v", name, err)
		}
	}
}
