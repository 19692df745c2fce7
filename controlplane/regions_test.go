package controlplane

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/spacecast/spacecast/controlplane/placement"
)

// GET /v1/regions is public; without a fleet it names the static edge's
// region, with one it lists the fleet's regions and probe URLs.
func TestRegions(t *testing.T) {
	e := start(t, envOpts{})
	r := e.must(t, 200, "GET", "/v1/regions", "", nil)
	var got RegionsReply
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := RegionsReply{Regions: []placement.Region{{Name: testEdge.Region, ProbeURLs: []string{}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("regions = %s, want %+v", r.body, want)
	}
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=5" {
		t.Fatalf("Cache-Control = %q", cc)
	}
}

// RegionsReply mirrors api.RegionList for decoding.
type RegionsReply struct {
	Regions []placement.Region `json:"regions"`
}
