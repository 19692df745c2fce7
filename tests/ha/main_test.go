package ha

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/internal/pgtest"
)

// pg is the PostgreSQL server of these tests.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	pg.Options.Durable = false
	code := m.Run()
	pg.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
