package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// prodObject is one decoded manifest.
type prodObject struct {
	kind, name string
	v          any
}

// prodKustomize builds dir as `kubectl kustomize` does (kustomize's own Go
// API, offline) and decodes every prodObject strictly into the Kubernetes API's
// typed structs: an unknown kind or field (a typo, a field at the wrong
// level) fails, which is the schema check.
func prodKustomize(t *testing.T, dir string) []prodObject {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []prodObject
	for _, r := range rm.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		key := r.GetApiVersion() + "/" + r.GetKind()
		var v any
		switch key {
		case "apps/v1/Deployment":
			v = &appsv1.Deployment{}
		case "apps/v1/StatefulSet":
			v = &appsv1.StatefulSet{}
		case "v1/Service":
			v = &corev1.Service{}
		case "v1/ConfigMap":
			v = &corev1.ConfigMap{}
		case "v1/Secret":
			v = &corev1.Secret{}
		case "v1/ServiceAccount":
			v = &corev1.ServiceAccount{}
		case "policy/v1/PodDisruptionBudget":
			v = &policyv1.PodDisruptionBudget{}
		default:
			t.Fatalf("%s: %s %s: kind not known to this check (add it)", dir, key, r.GetName())
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%s: %s %s does not match the API schema: %v", dir, key, r.GetName(), err)
		}
		out = append(out, prodObject{r.GetKind(), r.GetName(), v})
	}
	return out
}

// usherEnvNames are the variables usher reads: every quoted USHER_..., REDIS_...,
// SLACK_..., TEAMS_... name in cmd/usher's code.
func usherEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob("*.go")
	names := map[string]bool{}
	// getenv("X") calls and names in tables read through getenv.
	re := regexp.MustCompile(`"((?:USHER|REDIS|SLACK|TEAMS|MICROSOFT)_[A-Z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
	}
	return names
}

type prodPods struct {
	kind, name string
	replicas   int32
	labels     map[string]string
	spec       corev1.PodSpec
}

// TestKubernetesManifests builds the base and every overlay and checks what
// an operator relies on: the schema, a hardened pod for every container,
// resources, probes, that every referenced ConfigMap, Secret and key exists,
// that Services and PodDisruptionBudgets select pods, that every variable
// given to usher is one it reads, and that usher accepts the resulting
// configuration (the same loadConfig as `usher serve`).
func TestKubernetesManifests(t *testing.T) {
	root := filepath.Join("..", "..", "manifests", "kubernetes")
	overlays, _ := filepath.Glob(filepath.Join(root, "overlays", "*"))
	if len(overlays) < 2 {
		t.Fatalf("want a Sentinel and a managed-Redis overlay, found %v", overlays)
	}
	known := usherEnvNames(t)
	for _, dir := range append([]string{filepath.Join(root, "base")}, overlays...) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs := prodKustomize(t, dir)
			configMaps := map[string]map[string]string{}
			secrets := map[string]map[string]string{}
			var pods []prodPods
			var services []*corev1.Service
			var pdbs []*policyv1.PodDisruptionBudget
			for _, o := range objs {
				switch v := o.v.(type) {
				case *corev1.ConfigMap:
					configMaps[v.Name] = v.Data
				case *corev1.Secret:
					m := map[string]string{}
					for k, b := range v.Data {
						m[k] = string(b)
					}
					for k, s := range v.StringData {
						m[k] = s
					}
					secrets[v.Name] = m
				case *appsv1.Deployment:
					pods = append(pods, prodPods{"Deployment", v.Name, prodReplicas(v.Spec.Replicas), v.Spec.Template.Labels, v.Spec.Template.Spec})
					if !prodSelects(v.Spec.Selector.MatchLabels, v.Spec.Template.Labels) {
						t.Errorf("Deployment %s: selector does not match its pods", v.Name)
					}
				case *appsv1.StatefulSet:
					pods = append(pods, prodPods{"StatefulSet", v.Name, prodReplicas(v.Spec.Replicas), v.Spec.Template.Labels, v.Spec.Template.Spec})
					if !prodSelects(v.Spec.Selector.MatchLabels, v.Spec.Template.Labels) {
						t.Errorf("StatefulSet %s: selector does not match its pods", v.Name)
					}
				case *corev1.Service:
					services = append(services, v)
				case *policyv1.PodDisruptionBudget:
					pdbs = append(pdbs, v)
				}
			}
			var usher *prodPods
			for i, p := range pods {
				if p.name == "usher" {
					usher = &pods[i]
				}
				prodCheckPod(t, p, configMaps, secrets)
			}
			if usher == nil {
				t.Fatal("no usher Deployment")
			}
			if usher.replicas < 2 {
				t.Errorf("usher runs %d replicas, want 2 or more", usher.replicas)
			}
			c := usher.spec.Containers[0]
			if !strings.HasPrefix(c.Image, "ghcr.io/usher-chat/usher:") || !slices.Equal(c.Args, []string{"serve"}) {
				t.Errorf("usher container runs %s %v", c.Image, c.Args)
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
				t.Errorf("usher readiness probe %+v, want GET /readyz", p)
			}
			if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
				t.Errorf("usher liveness probe %+v, want GET /healthz", p)
			}
			// The environment usher gets, with the templates' values.
			env := map[string]string{}
			for _, ef := range c.EnvFrom {
				switch {
				case ef.ConfigMapRef != nil:
					for k, v := range configMaps[ef.ConfigMapRef.Name] {
						env[k] = v
					}
				case ef.SecretRef != nil:
					for k, v := range secrets[ef.SecretRef.Name] {
						env[k] = v
					}
				}
			}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom == nil:
					env[e.Name] = e.Value
				case e.ValueFrom.SecretKeyRef != nil:
					env[e.Name] = secrets[e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key]
				}
			}
			if v, ok := env["GOMEMLIMIT"]; ok {
				// The Go runtime reads it, not usher's code: it must parse
				// and leave room under the container's hard limit.
				soft, err := resource.ParseQuantity(strings.TrimSuffix(v, "B"))
				hard := c.Resources.Limits[corev1.ResourceMemory]
				if err != nil || soft.Cmp(hard) >= 0 {
					t.Errorf("GOMEMLIMIT %q: want a soft limit under the container's %s", v, hard.String())
				}
				delete(env, "GOMEMLIMIT")
			}
			for k := range env {
				if !known[k] {
					t.Errorf("usher is given %s, which it does not read", k)
				}
			}
			if _, err := loadConfig(func(k string) string { return env[k] }); err != nil {
				t.Errorf("usher refuses this configuration: %v", err)
			}
			if !strings.HasSuffix(dir, "base") {
				cfg, _ := loadConfig(func(k string) string { return env[k] })
				if !cfg.redis.configured() {
					t.Errorf("the overlay configures no Redis")
				}
			}
			for _, s := range services {
				p := prodFindPods(pods, s.Spec.Selector)
				if p == nil {
					t.Errorf("Service %s selects no pods", s.Name)
					continue
				}
				for _, port := range s.Spec.Ports {
					if port.TargetPort.StrVal != "" && !prodHasPort(p.spec, port.TargetPort.StrVal) {
						t.Errorf("Service %s: target port %s is not a container port of %s", s.Name, port.TargetPort.StrVal, p.name)
					}
				}
			}
			for _, b := range pdbs {
				p := prodFindPods(pods, b.Spec.Selector.MatchLabels)
				if p == nil {
					t.Errorf("PodDisruptionBudget %s selects no pods", b.Name)
				} else if b.Spec.MinAvailable != nil && b.Spec.MinAvailable.IntVal >= p.replicas {
					t.Errorf("PodDisruptionBudget %s: minAvailable %d blocks every drain of %d replicas", b.Name, b.Spec.MinAvailable.IntVal, p.replicas)
				}
			}
			if len(pdbs) == 0 {
				t.Error("no PodDisruptionBudget")
			}
		})
	}
	// The Sentinel overlay's init script is valid sh.
	script := filepath.Join(root, "overlays", "sentinel", "init.sh")
	if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("sh -n %s: %v\n%s", script, err, out)
	}
}

func prodReplicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func prodSelects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func prodFindPods(pods []prodPods, sel map[string]string) *prodPods {
	for i := range pods {
		if prodSelects(sel, pods[i].labels) {
			return &pods[i]
		}
	}
	return nil
}

func prodHasPort(spec corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// checkPod: non-root, read-only root filesystem, no privilege escalation, no
// capabilities, the runtime's seccomp profile, requests and limits, and every
// ConfigMap, Secret and key it names exists in the build.
func prodCheckPod(t *testing.T, p prodPods, configMaps map[string]map[string]string, secrets map[string]map[string]string) {
	t.Helper()
	ps := p.spec.SecurityContext
	podNonRoot := ps != nil && ps.RunAsNonRoot != nil && *ps.RunAsNonRoot
	podSeccomp := ps != nil && ps.SeccompProfile != nil && ps.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if p.spec.AutomountServiceAccountToken == nil || *p.spec.AutomountServiceAccountToken {
		t.Errorf("%s %s mounts a service account token", p.kind, p.name)
	}
	for _, c := range append(slices.Clone(p.spec.InitContainers), p.spec.Containers...) {
		where := fmt.Sprintf("%s %s container %s", p.kind, p.name, c.Name)
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
			continue
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: root filesystem is writable", where)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities are not all dropped", where)
		case !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot):
			t.Errorf("%s: may run as root", where)
		case !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault):
			t.Errorf("%s: no RuntimeDefault seccomp profile", where)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", where, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				t.Errorf("%s: no %s limit", where, r)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && configMaps[ef.ConfigMapRef.Name] == nil {
				t.Errorf("%s: ConfigMap %s does not exist", where, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil && secrets[ef.SecretRef.Name] == nil {
				t.Errorf("%s: Secret %s does not exist", where, ef.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				if _, ok := secrets[ref.Name][ref.Key]; !ok {
					t.Errorf("%s: env %s names Secret %s key %s, which does not exist", where, e.Name, ref.Name, ref.Key)
				}
			}
		}
		for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port.StrVal != "" && !prodHasPort(corev1.PodSpec{Containers: []corev1.Container{c}}, probe.HTTPGet.Port.StrVal) {
				t.Errorf("%s: probe port %s is not a container port", where, probe.HTTPGet.Port.StrVal)
			}
		}
	}
	for _, v := range p.spec.Volumes {
		if v.ConfigMap != nil && configMaps[v.ConfigMap.Name] == nil {
			t.Errorf("%s %s: volume %s names ConfigMap %s, which does not exist", p.kind, p.name, v.Name, v.ConfigMap.Name)
		}
	}
}

// TestDockerfile checks the Dockerfile statically (no container engine runs
// in the test environment): it parses with BuildKit's own parser, builds in
// a golang stage of go.mod's Go version with CGO_ENABLED=0, ends on a
// distroless or scratch image as a non-root user, fetches nothing with ADD,
// and runs `usher serve`.
func TestDockerfile(t *testing.T) {
	root := filepath.Join("..", "..")
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	type stage struct {
		from string
		user string
		cmds []*parser.Node
	}
	var stages []*stage
	for _, n := range res.AST.Children {
		n.Value = strings.ToLower(n.Value)
		if n.Value == "from" {
			stages = append(stages, &stage{from: n.Next.Value})
			continue
		}
		if len(stages) == 0 {
			if n.Value != "arg" {
				t.Fatalf("line %d: %s before FROM", n.StartLine, n.Value)
			}
			continue
		}
		s := stages[len(stages)-1]
		s.cmds = append(s.cmds, n)
		switch n.Value {
		case "user":
			s.user = n.Next.Value
		case "add":
			for a := n.Next; a != nil; a = a.Next {
				if strings.Contains(a.Value, "://") {
					t.Errorf("line %d: ADD of a URL (%s): download in a build stage and check a digest", n.StartLine, a.Value)
				}
			}
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(stages))
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.HasPrefix(stages[0].from, "golang:"+string(goVersion[1])) {
		t.Errorf("build stage FROM %s, want golang:%s (go.mod)", stages[0].from, goVersion[1])
	}
	var build string
	for _, n := range stages[0].cmds {
		if n.Value == "run" && strings.Contains(n.Original, "go build") {
			build = n.Original
		}
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "./cmd/usher") {
		t.Errorf("build stage does not build ./cmd/usher with CGO_ENABLED=0: %q", build)
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/") && final.from != "scratch" {
		t.Errorf("final stage FROM %s, want distroless or scratch", final.from)
	}
	if u := strings.Split(final.user, ":")[0]; u == "" || u == "root" || u == "0" {
		t.Errorf("final stage USER %q, want a non-root user", final.user)
	}
	var entry []string
	for _, n := range final.cmds {
		if n.Value == "entrypoint" || n.Value == "cmd" {
			for a := n.Next; a != nil; a = a.Next {
				entry = append(entry, a.Value)
			}
		}
		if n.Value == "copy" && !slices.ContainsFunc(n.Flags, func(f string) bool { return strings.HasPrefix(f, "--from=") }) {
			t.Errorf("line %d: the final stage copies from the build context, not a build stage", n.StartLine)
		}
	}
	if len(entry) < 2 || !strings.HasSuffix(entry[0], "/usher") || entry[len(entry)-1] != "serve" {
		t.Errorf("final stage runs %v, want usher serve", entry)
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	if !slices.Contains(patterns, ".git") {
		t.Errorf(".dockerignore must keep .git out of the build context")
	}
	// Every file the build reads (go.mod, go.sum, the sources and embedded
	// files of every package of this module that cmd/usher depends on) is in
	// the build context.
	out, err := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}{{end}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(abs, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	if len(files) < 10 {
		t.Fatalf("go list found only %v", files)
	}
	for _, f := range files {
		for _, p := range patterns {
			if dockerIgnored(p, f) {
				t.Errorf(".dockerignore %q excludes %s, which the build needs", p, f)
			}
		}
	}
}

// dockerIgnored matches path against one .dockerignore pattern, for the
// subset of the syntax .dockerignore uses here: a leading "/" or trailing
// "/" is dropped, "**/" matches any number of directories, and a pattern
// that matches a directory excludes everything under it.
func dockerIgnored(pattern, path string) bool {
	pattern = strings.Trim(pattern, "/")
	parts := strings.Split(path, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		if ok, _ := filepath.Match(pattern, prefix); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for j := 0; j < i; j++ {
				if ok, _ := filepath.Match(rest, strings.Join(parts[j:i], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}
