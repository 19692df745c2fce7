package controlplane

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/spacecast/spacecast/internal/testenv"
)

// The control plane and the edge stand side by side: what they share
// (the occupancy reports, TURN credentials, the cluster's keys) lives in
// neutral packages, and the control plane's build holds nothing of the SFU
// (pion/webrtc) nor of the edge or TURN server packages.
func TestControlPlaneImportsNoEdge(t *testing.T) {
	goBin, err := exec.LookPath("go")
	testenv.Need(t, "the go command", err)
	const self = "github.com/spacecast/spacecast/controlplane/..."
	out, err := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, self).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := func(p string) bool {
		for _, root := range []string{"github.com/pion/webrtc", "github.com/spacecast/spacecast/edge", "github.com/spacecast/spacecast/turn"} {
			if p == root || strings.HasPrefix(p, root+"/") {
				return true
			}
		}
		return false
	}
	importedBy := map[string]string{} // package → one package that imports it
	var bad []string
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		for _, imp := range fields[1:] {
			if _, ok := importedBy[imp]; !ok {
				importedBy[imp] = fields[0]
			}
		}
		if forbidden(fields[0]) {
			bad = append(bad, fields[0])
		}
	}
	slices.Sort(bad)
	for _, p := range bad {
		if forbidden(importedBy[p]) {
			continue // its way in is reported
		}
		chain := []string{p}
		for q := importedBy[p]; q != "" && !slices.Contains(chain, q) && len(chain) < 20; q = importedBy[q] {
			chain = append(chain, q)
		}
		slices.Reverse(chain)
		t.Errorf("the control plane's build holds %s: %s", p, strings.Join(chain, " → "))
	}
}
