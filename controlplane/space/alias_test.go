package space

import (
	"strings"
	"testing"
)

func TestNewAlias(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		a, err := newAlias()
		if err != nil || len(a) != 10 || strings.Trim(a, aliasAlphabet) != "" || seen[a] {
			t.Fatalf("newAlias = %q, %v", a, err)
		}
		seen[a] = true
	}
}
