package testenv

import (
	"errors"
	"fmt"
	"testing"
)

// fakeTB records how Need ended the test.
type fakeTB struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }

func TestNeed(t *testing.T) {
	for _, tc := range []struct {
		name, ci        string
		err             error
		failed, skipped bool
	}{
		{"present", "true", nil, false, false},
		{"missing in CI", "true", errors.New("not found"), true, false},
		{"missing elsewhere", "", errors.New("not found"), false, true},
		{"unsupported by the system, in CI", "true", fmt.Errorf("netns: %w", errors.ErrUnsupported), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			f := &fakeTB{}
			Need(f, "a tool", tc.err)
			if f.failed != tc.failed || f.skipped != tc.skipped {
				t.Fatalf("failed %v skipped %v, want %v %v", f.failed, f.skipped, tc.failed, tc.skipped)
			}
		})
	}
}
