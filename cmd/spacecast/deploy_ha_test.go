package main

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// k8sDoc is what TestControlplaneManifestHA reads of a Kubernetes object.
type k8sDoc struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Replicas     int `yaml:"replicas"`
		MinAvailable int `yaml:"minAvailable"`
		Selector     struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable int `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata struct{ Labels map[string]string } `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Name string `yaml:"name"`
					Env  []struct {
						Name      string `yaml:"name"`
						Value     string `yaml:"value"`
						ValueFrom *struct {
							SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
					ReadinessProbe *struct {
						HTTPGet          struct{ Path string } `yaml:"httpGet"`
						PeriodSeconds    int                   `yaml:"periodSeconds"`
						FailureThreshold int                   `yaml:"failureThreshold"`
					} `yaml:"readinessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readK8s(t *testing.T, path string) []k8sDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []k8sDoc
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d k8sDoc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// TestControlplaneManifestHA: the Kubernetes manifest runs the control
// plane as several replicas on PostgreSQL that a rolling update or a node
// drain replaces without failing a request: a Deployment of at least two
// replicas whose update never takes one away before its successor is
// ready, a PodDisruptionBudget over the same pods that keeps at least one
// and lets one go, a readiness probe on /readyz that notices a drain
// (503) before drainDelay is over, a grace period longer than drainDelay
// plus shutdownTimeout, the database password from a secret, and a
// connection budget (replicas × maxConns) within the example server's
// max_connections.
func TestControlplaneManifestHA(t *testing.T) {
	docs := readK8s(t, "../../deploy/kubernetes/controlplane.yaml")
	var dep, pdb, cm *k8sDoc
	for i := range docs {
		switch docs[i].Kind {
		case "Deployment":
			dep = &docs[i]
		case "PodDisruptionBudget":
			pdb = &docs[i]
		case "ConfigMap":
			if _, ok := docs[i].Data["controlplane.yaml"]; ok {
				cm = &docs[i]
			}
		}
	}
	if dep == nil || pdb == nil || cm == nil {
		t.Fatalf("want a Deployment, a PodDisruptionBudget and the config's ConfigMap; got %d documents", len(docs))
	}
	d := dep.Spec
	if d.Replicas < 2 {
		t.Fatalf("replicas = %d, want several", d.Replicas)
	}
	if d.Strategy.Type != "RollingUpdate" || d.Strategy.RollingUpdate.MaxUnavailable != 0 {
		t.Fatalf("strategy %+v: want a rolling update with maxUnavailable 0", d.Strategy)
	}
	if !maps.Equal(d.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels) {
		t.Fatalf("the budget selects %v, the Deployment %v", pdb.Spec.Selector.MatchLabels, d.Selector.MatchLabels)
	}
	for k, v := range d.Selector.MatchLabels {
		if d.Template.Metadata.Labels[k] != v {
			t.Fatalf("the pods lack the selector's label %s=%s", k, v)
		}
	}
	if m := pdb.Spec.MinAvailable; m < 1 || m >= d.Replicas {
		t.Fatalf("minAvailable %d of %d replicas: want at least one kept and one free to go", m, d.Replicas)
	}

	// The config inside, as the pods load it.
	path := filepath.Join(t.TempDir(), "controlplane.yaml")
	body := strings.NewReplacer("${POD_IP}", "10.1.2.3", "${POD_NAME}", "spacecast-controlplane-0").Replace(cm.Data["controlplane.yaml"])
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadControlplaneFile(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cp := cfg.Controlplane
	if cfg.Store.Driver != "postgres" {
		t.Fatalf("store.driver %q: replicas share one PostgreSQL database", cfg.Store.Driver)
	}
	if len(d.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want the control plane", len(d.Template.Spec.Containers))
	}
	c := d.Template.Spec.Containers[0]
	rp := c.ReadinessProbe
	if rp == nil || rp.HTTPGet.Path != "/readyz" {
		t.Fatal("no readiness probe on /readyz")
	}
	if notice := time.Duration(rp.PeriodSeconds*max(rp.FailureThreshold, 1)) * time.Second; notice >= cp.DrainDelay {
		t.Fatalf("the probe notices a drain after up to %s, drainDelay is %s: requests would still come after it", notice, cp.DrainDelay)
	}
	if grace := time.Duration(d.Template.Spec.TerminationGracePeriodSeconds) * time.Second; grace <= cp.DrainDelay+cp.ShutdownTimeout {
		t.Fatalf("terminationGracePeriodSeconds %s ≤ drainDelay %s + shutdownTimeout %s: in-flight requests would be killed", grace, cp.DrainDelay, cp.ShutdownTimeout)
	}
	var password bool
	for _, e := range c.Env {
		if e.Name == envStorePassword {
			password = e.Value == "" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
		}
	}
	if !password {
		t.Fatalf("%s does not come from a secret", envStorePassword)
	}
	maxConns := postgresMaxConnections(t)
	if budget := d.Replicas * int(cfg.Store.MaxConns); budget >= maxConns {
		t.Fatalf("%d replicas × maxConns %d = %d connections, the example server takes %d", d.Replicas, cfg.Store.MaxConns, budget, maxConns)
	}
}

// postgresMaxConnections is max_connections in the example PostgreSQL
// StatefulSet's arguments.
func postgresMaxConnections(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("../../deploy/kubernetes/postgres.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "max_connections=")
	if !ok {
		t.Fatal("the example server sets no max_connections")
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
