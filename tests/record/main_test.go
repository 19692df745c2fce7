package record

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(publisherEnv) != "" {
		os.Exit(publisherMain())
	}
	goleak.VerifyTestMain(m)
}
