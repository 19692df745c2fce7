package selfhost

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStart(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	tests := []struct {
		name    string
		script  string
		wantURL string
		wantErr bool
	}{
		{name: "info line", script: `echo '{"url":"http://127.0.0.1:1","clientId":"c","clientSecret":"s"}'; exec sleep 30`, wantURL: "http://127.0.0.1:1"},
		{name: "garbage", script: `echo hello; exec sleep 30`, wantErr: true},
		{name: "exits early", script: `exit 3`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := Start(ctx, exec.Command("sh", "-c", tt.script))
			if tt.wantErr {
				if err == nil {
					_ = c.Stop()
					t.Fatal("Start succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.URL != tt.wantURL || c.ClientSecret != "s" || c.PID <= 0 {
				t.Fatalf("info = %+v", c.Info)
			}
			if err := c.Stop(); err != nil {
				t.Fatal(err)
			}
			_ = c.Stop() // safe twice
		})
	}
}
