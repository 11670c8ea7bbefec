package kube

// The API server's part: every manifest is checked as Kubernetes' own
// validation checks it (the k8s.io/apimachinery functions, not look-alike
// regular expressions), before anything changes. What reaches the rest of
// netlab from a manifest (names, namespaces, labels, ports, paths) has
// passed these checks: it never holds a separator of a line-based protocol
// or a path, however it is used later.

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Limits netlab adds to Kubernetes' own, each for a reason it says.
const (
	// MaxDeploymentName keeps a Deployment's pod names within 63
	// characters, a DNS label (a pod's hostname): name, "-", the template
	// hash (at most 10), "-", five characters. Kubernetes would cut the
	// generated name at 58 characters instead; netlab names pods in full,
	// so that 'get pods' shows which Deployment and template made each.
	MaxDeploymentName = 63 - 1 - 10 - 1 - 5
	// MaxReplicas is the most pods a Deployment has in this lab.
	MaxReplicas = 256
)

// firstOf is the first message of a validation function, "" when none.
func firstOf(msgs []string) string {
	if len(msgs) == 0 {
		return ""
	}
	return msgs[0]
}

// checkNamespace validates metadata.namespace (defaulting it): a DNS-1123
// label, as the API server requires of a namespace's name.
func checkNamespace(ns *string) string {
	if *ns == "" {
		*ns = "default"
	}
	if m := firstOf(content.IsDNS1123Label(*ns)); m != "" {
		return fmt.Sprintf("%q is not a namespace name: %s", *ns, m)
	}
	return ""
}

// CheckNamespace reports a namespace name the API server would refuse
// (kubectl's -n).
func CheckNamespace(ns string) error {
	if ns == "" {
		return fmt.Errorf("a namespace name is not empty")
	}
	if why := checkNamespace(&ns); why != "" {
		return fmt.Errorf("%s", why)
	}
	return nil
}

// checkLabels validates a label map: keys are qualified names, values
// label values. It returns the bad key's path and why.
func checkLabels(path string, labels map[string]string) (string, string) {
	for _, k := range sortedKeys(labels) {
		if m := firstOf(content.IsLabelKey(k)); m != "" {
			return path + "." + k, fmt.Sprintf("%q is not a label key: %s", k, m)
		}
		if m := firstOf(content.IsLabelValue(labels[k])); m != "" {
			return path + "." + k, fmt.Sprintf("%q is not a label value: %s", labels[k], m)
		}
	}
	return "", ""
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// checkMeta validates an object's metadata as the API server does: its
// name by the kind's rule (isName, described as rule), its namespace
// (defaulted to "default") and its labels.
func checkMeta(bad func(string, string, ...any) error, name string, isName func(string) []string, rule string, ns *string, labels map[string]string) error {
	if name == "" {
		return bad("metadata.name", "required (netlab does not implement generateName)")
	}
	if m := firstOf(isName(name)); m != "" {
		return bad("metadata.name", "%q is not a %s: %s", name, rule, m)
	}
	if why := checkNamespace(ns); why != "" {
		return bad("metadata.namespace", "%s", why)
	}
	if path, why := checkLabels("metadata.labels", labels); why != "" {
		return bad(path, "%s", why)
	}
	return nil
}

// checkPod validates a Pod manifest as the API server would, for what
// netlab implements.
func checkPod(o *Object) error {
	p := o.Pod
	bad := func(path, reason string, a ...any) error {
		return &ManifestError{Doc: o.Doc, Object: "Pod " + p.Name, Path: path, Reason: fmt.Sprintf(reason, a...)}
	}
	// Kubernetes takes a DNS-1123 subdomain; a pod's hostname is its
	// name, so netlab asks for a label (at most 63, no dots).
	if err := checkMeta(bad, p.Name, content.IsDNS1123Label, "DNS-1123 label (netlab makes it the pod's hostname)", &p.Namespace, p.Labels); err != nil {
		return err
	}
	_, w, err := template(o.Doc, "Pod "+p.Name, "spec", p.Labels, p.Spec)
	o.Warnings = append(o.Warnings, w...)
	return err
}

// checkDeployment validates a Deployment manifest.
func checkDeployment(o *Object) error {
	d := o.Deployment
	bad := func(path, reason string, a ...any) error {
		return &ManifestError{Doc: o.Doc, Object: "Deployment " + d.Name, Path: path, Reason: fmt.Sprintf(reason, a...)}
	}
	if err := checkMeta(bad, d.Name, content.IsDNS1123Label, "DNS-1123 label", &d.Namespace, d.Labels); err != nil {
		return err
	}
	if len(d.Name) > MaxDeploymentName {
		return bad("metadata.name", "%q has %d characters: at most %d here, so that its pods' names (name-HASH-xxxxx) fit in 63", d.Name, len(d.Name), MaxDeploymentName)
	}
	if d.Spec.Replicas != nil && (*d.Spec.Replicas < 0 || *d.Spec.Replicas > MaxReplicas) {
		return bad("spec.replicas", "%d: from 0 to %d in this lab", *d.Spec.Replicas, MaxReplicas)
	}
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
		return bad("spec.selector", "required: matchLabels")
	}
	if len(d.Spec.Selector.MatchExpressions) > 0 {
		return bad("spec.selector.matchExpressions", "netlab implements matchLabels")
	}
	if path, why := checkLabels("spec.selector.matchLabels", d.Spec.Selector.MatchLabels); why != "" {
		return bad(path, "%s", why)
	}
	if path, why := checkLabels("spec.template.metadata.labels", d.Spec.Template.Labels); why != "" {
		return bad(path, "%s", why)
	}
	if !Matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		return bad("spec.template.metadata.labels", "`selector` does not match template `labels`")
	}
	_, w, err := template(o.Doc, "Deployment "+d.Name, "spec.template.spec", d.Spec.Template.Labels, d.Spec.Template.Spec)
	o.Warnings = append(o.Warnings, w...)
	if err != nil {
		return err
	}
	if d.Spec.Strategy.Type != "" && d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType && d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return bad("spec.strategy.type", "%q: RollingUpdate or Recreate", d.Spec.Strategy.Type)
	}
	replicas := 1
	if d.Spec.Replicas != nil {
		replicas = int(*d.Spec.Replicas)
	}
	if _, err := strategy(d, replicas); err != nil {
		path, reason, _ := strings.Cut(err.Error(), ": ")
		return bad(path, "%s", reason)
	}
	return nil
}

var image = regexp.MustCompile(`^netlab/web:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$`)

// template reads a pod spec into what netlab runs, refusing by path what
// it does not implement or what the API server refuses.
func template(where, obj, path string, meta map[string]string, spec corev1.PodSpec) (PodTemplate, []string, error) {
	bad := func(p, reason string, a ...any) error {
		return &ManifestError{Doc: where, Object: obj, Path: path + p, Reason: fmt.Sprintf(reason, a...)}
	}
	var warn []string
	t := PodTemplate{Labels: meta}
	if len(spec.Containers) == 0 {
		return t, nil, bad(".containers", "required: at least one container")
	}
	for p, set := range map[string]bool{
		".volumes": len(spec.Volumes) > 0, ".initContainers": len(spec.InitContainers) > 0, ".hostNetwork": spec.HostNetwork,
		".nodeName": spec.NodeName != "", ".hostAliases": len(spec.HostAliases) > 0, ".ephemeralContainers": len(spec.EphemeralContainers) > 0,
	} {
		if set {
			return t, nil, bad(p, "netlab does not implement it")
		}
	}
	ports := map[string]bool{} // "80/TCP"
	containers := map[string]bool{}
	for i, ct := range spec.Containers {
		at := fmt.Sprintf(".containers[%d]", i)
		if ct.Name == "" {
			return t, nil, bad(at+".name", "required")
		}
		if m := firstOf(content.IsDNS1123Label(ct.Name)); m != "" {
			return t, nil, bad(at+".name", "%q is not a DNS-1123 label: %s", ct.Name, m)
		}
		if containers[ct.Name] {
			return t, nil, bad(at+".name", "Duplicate value: %q", ct.Name)
		}
		containers[ct.Name] = true
		m := image.FindStringSubmatch(ct.Image)
		if m == nil {
			return t, nil, bad(at+".image", "%q: netlab runs netlab/web:TAG, its web server, which answers with the pod's name, IP and node and \"the color is TAG\"", ct.Image)
		}
		if len(m[1]) > 63 {
			return t, nil, bad(at+".image", "a tag of %d characters: netlab/web takes at most 63", len(m[1]))
		}
		if len(ct.Command) > 0 || len(ct.Args) > 0 {
			return t, nil, bad(at+".command", "netlab/web runs its own server: no command or args")
		}
		for p, set := range map[string]bool{".volumeMounts": len(ct.VolumeMounts) > 0, ".lifecycle": ct.Lifecycle != nil, ".startupProbe": ct.StartupProbe != nil} {
			if set {
				return t, nil, bad(at+p, "netlab does not implement it")
			}
		}
		for p, set := range map[string]bool{".env": len(ct.Env) > 0, ".resources": len(ct.Resources.Limits)+len(ct.Resources.Requests) > 0,
			".livenessProbe": ct.LivenessProbe != nil} {
			if set {
				warn = append(warn, path+at+p+": not used by netlab (netlab/web reads no environment, and nothing restarts it)")
			}
		}
		c := Container{Name: ct.Name, Tag: m[1]}
		portNames := map[string]bool{}
		for j, p := range ct.Ports {
			pat := fmt.Sprintf("%s.ports[%d]", at, j)
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				return t, nil, bad(pat+".containerPort", "%d: from 1 to 65535", p.ContainerPort)
			}
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP && p.Protocol != corev1.ProtocolUDP {
				return t, nil, bad(pat+".protocol", "%q: netlab/web serves TCP or UDP", p.Protocol)
			}
			if p.Name != "" {
				if m := firstOf(validation.IsValidPortName(p.Name)); m != "" {
					return t, nil, bad(pat+".name", "%q is not a port name: %s", p.Name, m)
				}
				if portNames[p.Name] {
					return t, nil, bad(pat+".name", "Duplicate value: %q", p.Name)
				}
				portNames[p.Name] = true
			}
			if p.HostPort != 0 || p.HostIP != "" {
				return t, nil, bad(pat+".hostPort", "netlab does not implement it")
			}
			cp := ContainerPort{Name: p.Name, Port: int(p.ContainerPort)}
			if p.Protocol == corev1.ProtocolUDP {
				cp.Protocol = "UDP"
			}
			c.Ports = append(c.Ports, cp)
		}
		if rp := ct.ReadinessProbe; rp != nil {
			pr, err := probeOf(rp, c, func(p, reason string, a ...any) error { return bad(at+".readinessProbe"+p, reason, a...) })
			if err != nil {
				return t, nil, err
			}
			c.Readiness = pr
		}
		serves := fmt.Sprintf("%d/%s", c.ServePort(), map[bool]string{true: "UDP", false: "TCP"}[c.ServesUDP()])
		if ports[serves] {
			return t, nil, bad(at+".ports", "port %s is another container's in the same pod (they share one network namespace)", serves)
		}
		ports[serves] = true
		t.Containers = append(t.Containers, c)
	}
	return t, warn, nil
}

// probeOf reads a readinessProbe: httpGet or tcpSocket on a port of the
// container (by number or name), with its delays and timeout, each
// checked as the API server checks them (none negative).
func probeOf(rp *corev1.Probe, c Container, bad func(string, string, ...any) error) (*Probe, error) {
	for f, v := range map[string]int32{
		".initialDelaySeconds": rp.InitialDelaySeconds, ".periodSeconds": rp.PeriodSeconds, ".timeoutSeconds": rp.TimeoutSeconds,
		".successThreshold": rp.SuccessThreshold, ".failureThreshold": rp.FailureThreshold,
	} {
		if v < 0 {
			return nil, bad(f, "%d: must be greater than or equal to 0", v)
		}
	}
	if rp.InitialDelaySeconds > 3600 || rp.PeriodSeconds > 3600 || rp.TimeoutSeconds > 60 {
		return nil, bad("", "delays from 0 to 3600 seconds, and a timeout of at most 60, in this lab")
	}
	if rp.TerminationGracePeriodSeconds != nil {
		return nil, bad(".terminationGracePeriodSeconds", "not allowed in a readinessProbe")
	}
	p := &Probe{InitialDelay: int(rp.InitialDelaySeconds), Period: int(rp.PeriodSeconds), Timeout: int(rp.TimeoutSeconds)}
	if p.Period == 0 {
		p.Period = 10 // the kubelet's default
	}
	if p.Timeout == 0 {
		p.Timeout = 1 // the kubelet's default
	}
	port := func(v int32, name string, path string) (int, error) {
		if name == "" {
			if v < 1 || v > 65535 {
				return 0, bad(path, "%d: from 1 to 65535", v)
			}
			return int(v), nil
		}
		if m := firstOf(validation.IsValidPortName(name)); m != "" {
			return 0, bad(path, "%q is not a port name: %s", name, m)
		}
		for _, cp := range c.Ports {
			if cp.Name == name {
				return cp.Port, nil
			}
		}
		return 0, bad(path, "%q names no port of the container", name)
	}
	var err error
	switch {
	case rp.HTTPGet != nil && rp.TCPSocket == nil && rp.Exec == nil && rp.GRPC == nil:
		g := rp.HTTPGet
		if p.Port, err = port(g.Port.IntVal, g.Port.StrVal, ".httpGet.port"); err != nil {
			return nil, err
		}
		if g.Host != "" || len(g.HTTPHeaders) > 0 || (g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP) {
			return nil, bad(".httpGet", "netlab implements path and port (HTTP, to the pod's address)")
		}
		p.Path = g.Path
		if p.Path == "" {
			p.Path = "/"
		}
		if !strings.HasPrefix(p.Path, "/") || len(p.Path) > 1024 || strings.IndexFunc(p.Path, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
			return nil, bad(".httpGet.path", "%q is not a request path (printable ASCII, no spaces, at most 1024)", p.Path)
		}
	case rp.TCPSocket != nil && rp.HTTPGet == nil && rp.Exec == nil && rp.GRPC == nil:
		p.TCP = true
		if rp.TCPSocket.Host != "" {
			return nil, bad(".tcpSocket.host", "netlab probes the pod's address")
		}
		if p.Port, err = port(rp.TCPSocket.Port.IntVal, rp.TCPSocket.Port.StrVal, ".tcpSocket.port"); err != nil {
			return nil, err
		}
	case rp.HTTPGet == nil && rp.TCPSocket == nil && rp.Exec == nil && rp.GRPC == nil:
		return nil, bad("", "must specify a handler type (netlab implements httpGet and tcpSocket)")
	default:
		return nil, bad("", "one handler only (netlab implements httpGet and tcpSocket)")
	}
	return p, nil
}
