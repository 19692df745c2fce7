package controlplane

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/spacecast/spacecast/controlplane/metrics"
)

// series gathers reg into "name{label=value,...}" → value (counters,
// gauges, and histograms by their sample count).
func series(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = sample(m)
		}
	}
	return out
}

func sample(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// TestMetrics: requests are counted by route pattern (never the raw path:
// no id, alias or query string in any label), joins by outcome and edge
// region, placements by region and reason, tokens by kind, rate-limit
// refusals by limiter, and the store's operations by name.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, envOpts{metrics: m, mutate: func(c *Config) {
		c.RateLimit.JoinPerAddress = Bucket{Rate: 0.001, Burst: 2}
	}})
	w := e.buildWorld(t, "alpha")
	e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", "", nil)
	e.must(t, 404, "GET", "/v1/spaces/ffffffffffffffffffffffff?accessToken=secret", w.owner.userToken, nil)
	e.must(t, 404, "GET", "/no/such/"+w.alias, "", nil)
	e.must(t, 404, "POST", "/v1/rooms/nosuchalias/join", "", nil)
	e.must(t, 429, "POST", "/v1/rooms/"+w.alias+"/join", "", nil)
	got := series(t, reg)
	for _, want := range []string{
		`spacecast_controlplane_http_requests_total{method=POST,route=/v1/rooms/{alias}/join,status=200}`,
		`spacecast_controlplane_http_requests_total{method=POST,route=/v1/rooms/{alias}/join,status=429}`,
		`spacecast_controlplane_http_requests_total{method=GET,route=/v1/spaces/{spaceId},status=404}`,
		`spacecast_controlplane_http_requests_total{method=GET,route=unmatched,status=404}`,
		`spacecast_controlplane_http_requests_total{method=GET,route=/readyz,status=200}`,
		`spacecast_controlplane_http_request_duration_seconds{method=POST,route=/v1/rooms/{alias}/join}`,
		`spacecast_controlplane_joins_total{edge_region=local,outcome=ok}`,
		`spacecast_controlplane_joins_total{edge_region=none,outcome=not_found}`,
		`spacecast_controlplane_joins_total{edge_region=none,outcome=rate_limited}`,
		`spacecast_controlplane_join_duration_seconds{outcome=ok}`,
		`spacecast_controlplane_placements_total{edge_region=local,reason=static}`,
		`spacecast_controlplane_tokens_issued_total{kind=client_credentials}`,
		`spacecast_controlplane_tokens_issued_total{kind=password}`,
		`spacecast_controlplane_tokens_issued_total{kind=media}`,
		`spacecast_controlplane_rate_limited_total{limiter=joinPerAddress}`,
		`spacecast_controlplane_store_operation_duration_seconds{op=GetRoomByAlias}`,
		`spacecast_controlplane_store_operation_duration_seconds{op=CreateRoom}`,
	} {
		if got[want] < 1 {
			t.Errorf("%s = %v, want at least 1", want, got[want])
		}
	}
	if v := got[`spacecast_controlplane_joins_total{edge_region=local,outcome=ok}`]; v != 1 {
		t.Errorf("%v successful joins counted, want 1", v)
	}
	if v := got[`spacecast_controlplane_store_errors_total{op=GetRoomByAlias}`]; v != 0 {
		t.Errorf("a room not found counted as a store failure (%v)", v)
	}
	for s := range got {
		for _, raw := range []string{w.alias, w.space, w.room, "ffffffffffffffffffffffff", "secret", "nosuchalias"} {
			if strings.Contains(s, raw) {
				t.Errorf("series %s names a raw path part %q", s, raw)
			}
		}
	}
}
