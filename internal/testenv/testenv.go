package testenv

import (
	"errors"
	"os"
	"testing"
)

// Need fails tb in CI (CI=true) and skips it elsewhere when err, the
// reason what is missing, is not nil. What this system cannot have (err
// wraps errors.ErrUnsupported: network namespaces off Linux) is skipped
// in CI too.
func Need(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if InCI() && !errors.Is(err, errors.ErrUnsupported) {
		tb.Fatalf("%s needed in CI (.ci/deps installs it): %v", what, err)
		return
	}
	tb.Skipf("no %s: %v", what, err)
}

// InCI reports whether this run is CI's, where every tool must be there.
func InCI() bool { return os.Getenv("CI") == "true" }
