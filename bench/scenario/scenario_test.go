package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/config"
)

type apiFile struct {
	Common      `yaml:",inline"`
	Connections int           `yaml:"connections"`
	Duration    time.Duration `yaml:"duration"`
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    apiFile
		wantErr error
	}{
		{name: "full", yaml: "scenario: api\ntarget: http://cp:8080\nclientId: c1\nslo: get_p99<5ms\nconnections: 8\nduration: 3s\n",
			want: apiFile{Common: Common{Scenario: "api", Target: "http://cp:8080", ClientID: "c1", SLO: "get_p99<5ms"}, Connections: 8, Duration: 3 * time.Second}},
		{name: "defaults kept", yaml: "connections: 2\n", want: apiFile{Common: Common{Scenario: "api"}, Connections: 2, Duration: time.Second}},
		{name: "unknown key", yaml: "conections: 2\n", wantErr: config.ErrInvalid},
		{name: "other scenario", yaml: "scenario: rooms\n", wantErr: ErrWrongScenario},
		{name: "secret key is unknown", yaml: "clientSecret: x\n", wantErr: config.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got := apiFile{Connections: 1, Duration: time.Second}
			err := Load(p, "api", &got)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
