package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// manifest is one document of deploy/kubernetes.
type manifest struct {
	file       string
	apiVersion string
	kind       string
	name       string
	obj        any // the typed object it decoded into
}

// kinds are the API types the manifests may use, by apiVersion and kind;
// a document of another kind fails the test until it is added here.
var kinds = map[string]func() any{
	"v1/Namespace":                  func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                     func() any { return &corev1.Secret{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"apps/v1/DaemonSet":             func() any { return &appsv1.DaemonSet{} },
	"apps/v1/StatefulSet":           func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
}

// loadManifests decodes every document of deploy/kubernetes strictly: an
// unknown or misspelt field, or a value of the wrong type, fails (the
// Kubernetes API types' own JSON decoding, which kubectl --validate=strict
// and the API server apply too).
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var out []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var node yaml.Node
			if err := dec.Decode(&node); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			doc, err := yaml.Marshal(&node)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := sigsyaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			mk, ok := kinds[head.APIVersion+"/"+head.Kind]
			if !ok {
				t.Fatalf("%s document %d: %s %s is not a kind this test knows (add it to kinds)", f, i, head.APIVersion, head.Kind)
			}
			obj := mk()
			if err := sigsyaml.UnmarshalStrict(doc, obj); err != nil {
				t.Errorf("%s: %s %s: %v", f, head.Kind, head.Metadata.Name, err)
				continue
			}
			if head.Metadata.Name == "" {
				t.Errorf("%s document %d: %s without a name", f, i, head.Kind)
			}
			out = append(out, manifest{file: filepath.Base(f), apiVersion: head.APIVersion, kind: head.Kind, name: head.Metadata.Name, obj: obj})
		}
	}
	return out
}

// TestKubernetesManifests: the manifests decode strictly into the
// Kubernetes API types, and what they refer to exists: every workload's
// selector picks its own pods, every Service and PodDisruptionBudget
// selects some workload, every probe names a port of its container, every
// mount a volume, and every ConfigMap and Secret referred to is defined
// in the manifests (the example secrets included).
//
// Offline, kubeconform cannot fetch its JSON schemas, so it is not run by
// default; with SPACECAST_KUBECONFORM_SCHEMAS naming a local copy of the
// schemas (kubeconform's -schema-location template, such as
// /path/{{.NormalizedKubernetesVersion}}-standalone-strict/{{.ResourceKind}}{{.KindSuffix}}.json)
// the test also runs kubeconform -strict over the manifests.
func TestKubernetesManifests(t *testing.T) {
	ms := loadManifests(t)
	if len(ms) < 8 {
		t.Fatalf("%d documents, want the namespace, configs, secrets, services, workloads", len(ms))
	}
	defined := map[string]bool{}
	type podSet struct {
		name   string
		labels map[string]string
		spec   corev1.PodSpec
		claims []string // a StatefulSet's volume claim templates
	}
	var pods []podSet
	for _, m := range ms {
		defined[m.kind+"/"+m.name] = true
		var sel map[string]string
		var tmpl corev1.PodTemplateSpec
		var claims []string
		switch o := m.obj.(type) {
		case *appsv1.Deployment:
			sel, tmpl = o.Spec.Selector.MatchLabels, o.Spec.Template
		case *appsv1.DaemonSet:
			sel, tmpl = o.Spec.Selector.MatchLabels, o.Spec.Template
		case *appsv1.StatefulSet:
			sel, tmpl = o.Spec.Selector.MatchLabels, o.Spec.Template
			for _, c := range o.Spec.VolumeClaimTemplates {
				claims = append(claims, c.Name)
			}
		default:
			continue
		}
		if len(sel) == 0 || !selects(sel, tmpl.Labels) {
			t.Errorf("%s %s: selector %v does not select its pods %v", m.kind, m.name, sel, tmpl.Labels)
		}
		pods = append(pods, podSet{m.kind + " " + m.name, tmpl.Labels, tmpl.Spec, claims})
	}
	for _, m := range ms {
		var sel map[string]string
		switch o := m.obj.(type) {
		case *corev1.Service:
			sel = o.Spec.Selector
			if len(o.Spec.Ports) == 0 {
				t.Errorf("Service %s has no port", m.name)
			}
		case *policyv1.PodDisruptionBudget:
			sel = o.Spec.Selector.MatchLabels
		default:
			continue
		}
		found := false
		for _, p := range pods {
			found = found || selects(sel, p.labels)
		}
		if !found {
			t.Errorf("%s %s selects no workload's pods (%v)", m.kind, m.name, sel)
		}
	}
	for _, p := range pods {
		volumes := map[string]bool{}
		for _, c := range p.claims {
			volumes[c] = true
		}
		for _, v := range p.spec.Volumes {
			volumes[v.Name] = true
			if v.ConfigMap != nil && !defined["ConfigMap/"+v.ConfigMap.Name] {
				t.Errorf("%s: volume %s names ConfigMap %s, not defined", p.name, v.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil && !defined["Secret/"+v.Secret.SecretName] {
				t.Errorf("%s: volume %s names Secret %s, not defined", p.name, v.Name, v.Secret.SecretName)
			}
		}
		for _, c := range append(append([]corev1.Container{}, p.spec.InitContainers...), p.spec.Containers...) {
			where := p.name + " container " + c.Name
			if c.Name == "" || c.Image == "" {
				t.Errorf("%s: a container needs a name and an image", where)
			}
			ports := map[string]bool{}
			for _, port := range c.Ports {
				ports[port.Name] = true
			}
			for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
				if probe == nil || probe.HTTPGet == nil {
					continue
				}
				if port := probe.HTTPGet.Port; port.StrVal != "" && !ports[port.StrVal] {
					t.Errorf("%s: %s probe names port %q, not a port of the container", where, name, port.StrVal)
				}
			}
			for _, vm := range c.VolumeMounts {
				if !volumes[vm.Name] {
					t.Errorf("%s: mounts volume %s, not a volume of the pod", where, vm.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && !defined["Secret/"+ef.SecretRef.Name] {
					t.Errorf("%s: envFrom names Secret %s, not defined", where, ef.SecretRef.Name)
				}
				if ef.ConfigMapRef != nil && !defined["ConfigMap/"+ef.ConfigMapRef.Name] {
					t.Errorf("%s: envFrom names ConfigMap %s, not defined", where, ef.ConfigMapRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !defined["Secret/"+e.ValueFrom.SecretKeyRef.Name] {
					t.Errorf("%s: env %s names Secret %s, not defined", where, e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
	}
	if schemas := os.Getenv("SPACECAST_KUBECONFORM_SCHEMAS"); schemas != "" {
		files, _ := filepath.Glob("kubernetes/*.yaml")
		args := append([]string{"run", "github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0", "-strict", "-summary",
			"-schema-location", schemas}, files...)
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			t.Errorf("kubeconform: %v\n%s", err, out)
		}
		t.Logf("kubeconform: %s", strings.TrimSpace(string(out)))
	} else {
		t.Log("kubeconform not run: set SPACECAST_KUBECONFORM_SCHEMAS to a local copy of its schemas (none can be fetched offline)")
	}
}

func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// TestKubernetesManifestsStrict: the strict decoding the manifests pass
// refuses a misspelt field and a value of the wrong type.
func TestKubernetesManifestsStrict(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		obj       any
	}{
		{"misspelt field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 3\n", &appsv1.Deployment{}},
		{"wrong type", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: eighty}]\n", &corev1.Service{}},
	} {
		if err := sigsyaml.UnmarshalStrict([]byte(tc.doc), tc.obj); err == nil {
			t.Errorf("%s: decoded without an error", tc.name)
		}
	}
}
