package deploy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/testenv"
)

// dockerEngine reports whether a Docker engine answers (a client alone is
// not enough). Its absence is the machine's, not a missing install, so the
// test is skipped in CI too.
func dockerEngine(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("no docker client: %w", errors.ErrUnsupported)
	}
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("no Docker engine answers (%s): %w", strings.TrimSpace(string(out)), errors.ErrUnsupported)
	}
	return nil
}

// TestDockerfile: deploy/Dockerfile builds the image and its binary runs
// (spacecast version). It needs a Docker engine and a few minutes; it is
// skipped without one and under -short.
func TestDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("the image build takes minutes; run without -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	testenv.Need(t, "Docker engine", dockerEngine(ctx))
	tag := "spacecast-test:" + strings.ToLower(rand.Text())
	build := exec.CommandContext(ctx, "docker", "build", "-f", "deploy/Dockerfile", "--build-arg", "VERSION=test", "-t", tag, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	defer func() { _ = exec.Command("docker", "image", "rm", "-f", tag).Run() }()
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", tag, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test") {
		t.Fatalf("docker run %s version: %v\n%s", tag, err, out)
	}
}
