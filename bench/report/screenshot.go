package report

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// Screenshot renders the HTML file page with headless Chromium (binary
// chromium) into the PNG file out; profileDir is a scratch directory for
// the browser's profile.
func Screenshot(ctx context.Context, chromium, page, out, profileDir string) error {
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+profileDir, "--window-size=1360,2400", "--hide-scrollbars",
		"--screenshot="+out, "file://"+page)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("report: chromium: %w: %s", err, b)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() < 10_000 {
		return fmt.Errorf("report: chromium wrote no screenshot (%v)", err)
	}
	return nil
}
