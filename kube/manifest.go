package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one manifest, decoded with the real API types: a Service, a
// Deployment, a Pod, a Namespace or a NetworkPolicy.
type Object struct {
	// Doc says where it came from: "document 2", "document 1, items[3]".
	Doc           string
	Service       *corev1.Service
	Deployment    *appsv1.Deployment
	Pod           *corev1.Pod
	Namespace     *corev1.Namespace
	NetworkPolicy *networkingv1.NetworkPolicy
	// Warnings are harmless fields netlab does not use, by path.
	Warnings []string
}

// Kind is the object's kind.
func (o Object) Kind() string {
	switch {
	case o.Service != nil:
		return "Service"
	case o.Deployment != nil:
		return "Deployment"
	case o.Namespace != nil:
		return "Namespace"
	case o.NetworkPolicy != nil:
		return "NetworkPolicy"
	}
	return "Pod"
}

// Meta is the object's namespace and name.
func (o Object) Meta() (namespace, name string) {
	switch {
	case o.Service != nil:
		return o.Service.Namespace, o.Service.Name
	case o.Deployment != nil:
		return o.Deployment.Namespace, o.Deployment.Name
	case o.Pod != nil:
		return o.Pod.Namespace, o.Pod.Name
	case o.Namespace != nil:
		return "", o.Namespace.Name // cluster-scoped
	case o.NetworkPolicy != nil:
		return o.NetworkPolicy.Namespace, o.NetworkPolicy.Name
	}
	return "", ""
}

// Name is "Kind/namespace/name".
func (o Object) Name() string {
	ns, name := o.Meta()
	return o.Kind() + "/" + ns + "/" + name
}

// ManifestError is a bad manifest: where, which field, and why. Nothing of
// a file with one is applied.
type ManifestError struct {
	Doc, Object, Path, Reason string
}

func (e *ManifestError) Error() string {
	s := e.Doc
	if e.Object != "" {
		s += " (" + e.Object + ")"
	}
	if e.Path != "" {
		s += ": " + e.Path
	}
	return s + ": " + e.Reason
}

// InputError is a request the cluster refuses as it stands: an object
// that is not there, a revision or a container it does not have, a count
// out of range. Like a ManifestError, it changes nothing, and netlab exits
// 2 with it.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func invalidf(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// IsInput reports whether err is bad input: a bad manifest, or a request
// the cluster refuses.
func IsInput(err error) bool {
	var me *ManifestError
	var ie *InputError
	return errors.As(err, &me) || errors.As(err, &ie)
}

// Parse reads manifests, YAML or JSON, one or many documents (and kind
// List), strictly: an unknown field, a duplicate field, a kind netlab does
// not apply or a field it does not implement is an error naming the
// document, the field path and the reason.
func Parse(data []byte) ([]Object, error) {
	var out []Object
	for i, doc := range splitDocuments(data) {
		j, err := yaml.YAMLToJSONStrict(doc) // a key twice is an error, as kubectl says
		if err != nil {
			return nil, &ManifestError{Doc: fmt.Sprintf("document %d", i+1), Reason: "not valid YAML or JSON: " + err.Error()}
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
			continue // an empty document, as kubectl skips it
		}
		objs, err := decode(j, fmt.Sprintf("document %d", i+1))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	if len(out) == 0 {
		return nil, &ManifestError{Doc: "the input", Reason: "no manifest in it"}
	}
	return out, nil
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range separator.Split(string(data), -1) {
		docs = append(docs, []byte(d))
	}
	return docs
}

// decode reads one JSON document: its kind, then the object, strictly.
func decode(j []byte, where string) ([]Object, error) {
	var tm struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Items      json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, &ManifestError{Doc: where, Reason: "not an object: " + err.Error()}
	}
	strict := func(v any) error {
		serr, err := sjson.UnmarshalStrict(j, v, sjson.DisallowDuplicateFields, sjson.DisallowUnknownFields)
		if err != nil {
			return &ManifestError{Doc: where, Reason: err.Error()}
		}
		if len(serr) > 0 {
			var rs []string
			for _, e := range serr {
				rs = append(rs, e.Error())
			}
			return &ManifestError{Doc: where, Path: pathOf(rs[0]), Reason: strings.Join(rs, "; ")}
		}
		return nil
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 List":
		var items []json.RawMessage
		if err := json.Unmarshal(tm.Items, &items); err != nil {
			return nil, &ManifestError{Doc: where, Path: "items", Reason: "not a list"}
		}
		var out []Object
		for k, it := range items {
			objs, err := decode(it, fmt.Sprintf("%s, items[%d]", where, k))
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	case "v1 Service":
		s := &corev1.Service{}
		if err := strict(s); err != nil {
			return nil, err
		}
		o := Object{Doc: where, Service: s}
		return []Object{o}, checkService(&o)
	case "apps/v1 Deployment":
		d := &appsv1.Deployment{}
		if err := strict(d); err != nil {
			return nil, err
		}
		o := Object{Doc: where, Deployment: d}
		return []Object{o}, checkDeployment(&o)
	case "v1 Pod":
		p := &corev1.Pod{}
		if err := strict(p); err != nil {
			return nil, err
		}
		o := Object{Doc: where, Pod: p}
		return []Object{o}, checkPod(&o)
	case "v1 Namespace":
		n := &corev1.Namespace{}
		if err := strict(n); err != nil {
			return nil, err
		}
		o := Object{Doc: where, Namespace: n}
		return []Object{o}, checkNamespaceObject(&o)
	case "networking.k8s.io/v1 NetworkPolicy":
		np := &networkingv1.NetworkPolicy{}
		if err := strict(np); err != nil {
			return nil, err
		}
		o := Object{Doc: where, NetworkPolicy: np}
		return []Object{o}, checkNetworkPolicy(&o)
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return nil, &ManifestError{Doc: where, Path: map[bool]string{true: "kind", false: "apiVersion"}[tm.Kind == ""], Reason: "missing: every manifest says its apiVersion and kind"}
	}
	return nil, &ManifestError{Doc: where, Path: "kind", Reason: fmt.Sprintf("%s %s: netlab applies v1 Service, apps/v1 Deployment, v1 Pod, v1 Namespace, networking.k8s.io/v1 NetworkPolicy and v1 List", tm.APIVersion, tm.Kind)}
}

// pathOf picks the field path out of a strict error: `unknown field
// "spec.ports[0].bogus"` is spec.ports[0].bogus.
func pathOf(msg string) string {
	if i := strings.Index(msg, `"`); i >= 0 {
		if j := strings.Index(msg[i+1:], `"`); j >= 0 {
			return msg[i+1 : i+1+j]
		}
	}
	return ""
}

// ServiceCIDR is where ClusterIPs come from, as a cluster's default;
// ServiceCIDR6 is where IPv6 ones come from in a dual-stack cluster
// (kind's default, --service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112).
var (
	ServiceCIDR  = netip.MustParsePrefix("10.96.0.0/12")
	ServiceCIDR6 = netip.MustParsePrefix("fd00:10:96::/112")
)

// serviceRange is the service range of ip's family.
func serviceRange(ip netip.Addr) netip.Prefix {
	if ip.Is4() {
		return ServiceCIDR
	}
	return ServiceCIDR6
}

// checkFamilies validates what a Service says of its IP families, as
// the API server's validation does before it knows the cluster:
// spec.ipFamilies (IPv4, IPv6, each once), spec.ipFamilyPolicy,
// spec.clusterIP and spec.clusterIPs (the first the clusterIP, each in
// the service range of its family, two of two families, in the order of
// ipFamilies). What needs the cluster (a family it does not have, a
// policy left out on an update) is Plan's.
func checkFamilies(sp corev1.ServiceSpec, bad func(string, string, ...any) error) error {
	if len(sp.IPFamilies) > 2 {
		return bad("spec.ipFamilies", "%d families: at most two (IPv4 and IPv6)", len(sp.IPFamilies))
	}
	for i, f := range sp.IPFamilies {
		if f != corev1.IPv4Protocol && f != corev1.IPv6Protocol {
			return bad(fmt.Sprintf("spec.ipFamilies[%d]", i), "%q: IPv4 or IPv6", f)
		}
		if i == 1 && f == sp.IPFamilies[0] {
			return bad("spec.ipFamilies[1]", "Duplicate value: %q", f)
		}
	}
	if p := sp.IPFamilyPolicy; p != nil {
		switch *p {
		case corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack:
		default:
			return bad("spec.ipFamilyPolicy", "%q: SingleStack, PreferDualStack or RequireDualStack", *p)
		}
		if *p == corev1.IPFamilyPolicySingleStack && len(sp.ClusterIPs) == 2 {
			return bad("spec.ipFamilyPolicy", "SingleStack: must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified")
		}
		if *p == corev1.IPFamilyPolicySingleStack && len(sp.IPFamilies) == 2 {
			return bad("spec.ipFamilyPolicy", "SingleStack: must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified")
		}
	}
	if len(sp.ClusterIPs) > 2 {
		return bad("spec.clusterIPs", "%d addresses: at most two, one of each family", len(sp.ClusterIPs))
	}
	if len(sp.ClusterIPs) > 0 && sp.ClusterIP != "" && sp.ClusterIPs[0] != sp.ClusterIP {
		return bad("spec.clusterIPs[0]", "%q must be the clusterIP, %q", sp.ClusterIPs[0], sp.ClusterIP)
	}
	ips := sp.ClusterIPs
	if len(ips) == 0 && sp.ClusterIP != "" {
		ips = []string{sp.ClusterIP}
	}
	path := func(i int) string {
		if len(sp.ClusterIPs) == 0 {
			return "spec.clusterIP"
		}
		return fmt.Sprintf("spec.clusterIPs[%d]", i)
	}
	var fams []string
	for i, s := range ips {
		if s == corev1.ClusterIPNone {
			if i > 0 || len(ips) > 1 {
				return bad(path(i), "None (headless) must be the only address")
			}
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return bad(path(i), "%q is not an IP address (or None, for a headless Service)", s)
		}
		r := serviceRange(a)
		if !r.Contains(a) {
			return bad(path(i), "%s is outside the service range %s", a, r)
		}
		if a == r.Masked().Addr() || (a.Is4() && a == lastOf(r)) {
			return bad(path(i), "%s is the service range's network or broadcast address, never allocated", a)
		}
		fam := FamilyOf(a)
		if i == 1 && fam == fams[0] {
			return bad(path(i), "%s: the two cluster IPs must be of two families (one IPv4, one IPv6)", a)
		}
		if i < len(sp.IPFamilies) && string(sp.IPFamilies[i]) != fam {
			return bad(path(i), "%s is %s, but spec.ipFamilies[%d] is %s", a, fam, i, sp.IPFamilies[i])
		}
		fams = append(fams, fam)
	}
	return nil
}

// NodePortRange is where NodePorts come from.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

// checkService validates a Service as the API server would for what
// netlab implements, and refuses by path what it does not.
func checkService(o *Object) error {
	s := o.Service
	bad := func(path, reason string, a ...any) error {
		return &ManifestError{Doc: o.Doc, Object: "Service " + s.Name, Path: path, Reason: fmt.Sprintf(reason, a...)}
	}
	if err := checkMeta(bad, s.Name, validation.IsDNS1035Label, "DNS-1035 label", &s.Namespace, s.Labels); err != nil {
		return err
	}
	if path, why := checkLabels("spec.selector", s.Spec.Selector); why != "" {
		return bad(path, "%s", why)
	}
	sp := s.Spec
	switch sp.Type {
	case "", corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
	default:
		return bad("spec.type", "%q: netlab implements ClusterIP and NodePort (its lab has no load balancer and no external names)", sp.Type)
	}
	for path, set := range map[string]bool{
		"spec.externalIPs":              len(sp.ExternalIPs) > 0,
		"spec.loadBalancerIP":           sp.LoadBalancerIP != "",
		"spec.loadBalancerSourceRanges": len(sp.LoadBalancerSourceRanges) > 0,
		"spec.externalName":             sp.ExternalName != "",
		"spec.healthCheckNodePort":      sp.HealthCheckNodePort != 0,
		"spec.publishNotReadyAddresses": sp.PublishNotReadyAddresses,
		"spec.loadBalancerClass":        sp.LoadBalancerClass != nil,
		"spec.trafficDistribution":      sp.TrafficDistribution != nil,
	} {
		if set {
			return bad(path, "netlab does not implement it")
		}
	}
	if sp.ExternalTrafficPolicy != "" && sp.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
		return bad("spec.externalTrafficPolicy", "%q: netlab implements Cluster", sp.ExternalTrafficPolicy)
	}
	if sp.InternalTrafficPolicy != nil && *sp.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
		return bad("spec.internalTrafficPolicy", "%q: netlab implements Cluster", *sp.InternalTrafficPolicy)
	}
	if err := checkFamilies(sp, bad); err != nil {
		return err
	}
	if sp.ClusterIP == corev1.ClusterIPNone && sp.Type == corev1.ServiceTypeNodePort {
		return bad("spec.clusterIP", "a headless Service (None) cannot be a NodePort")
	}
	switch sp.SessionAffinity {
	case "", corev1.ServiceAffinityNone:
		if c := sp.SessionAffinityConfig; c != nil && c.ClientIP != nil {
			return bad("spec.sessionAffinityConfig", "only with sessionAffinity: ClientIP")
		}
	case corev1.ServiceAffinityClientIP:
		if c := sp.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			if t := *c.ClientIP.TimeoutSeconds; t < 1 || t > 86400 {
				return bad("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "%d: from 1 to 86400", t)
			}
		}
	default:
		return bad("spec.sessionAffinity", "%q: None or ClientIP", sp.SessionAffinity)
	}
	if err := checkServicePorts(sp, bad, o); err != nil {
		return err
	}
	if s.Status.LoadBalancer.Ingress != nil || len(s.Status.Conditions) > 0 {
		o.Warnings = append(o.Warnings, "status: ignored, as the API server ignores it in a manifest")
	}
	return nil
}

// checkServicePorts validates a Service's ports: names, numbers,
// protocols, target ports and NodePorts, each pair of port and protocol
// once.
func checkServicePorts(sp corev1.ServiceSpec, bad func(string, string, ...any) error, o *Object) error {
	if len(sp.Ports) == 0 && sp.ClusterIP != corev1.ClusterIPNone {
		return bad("spec.ports", "required: at least one port")
	}
	names := map[string]bool{}
	nodePorts := map[int32]bool{}
	portProtos := map[string]bool{}
	for i, p := range sp.Ports {
		at := fmt.Sprintf("spec.ports[%d]", i)
		if len(sp.Ports) > 1 && p.Name == "" {
			return bad(at+".name", "required when a Service has several ports")
		}
		if p.Name != "" {
			if m := firstOf(validation.IsValidPortName(p.Name)); m != "" {
				return bad(at+".name", "%q is not a port name: %s", p.Name, m)
			}
			if names[p.Name] {
				return bad(at+".name", "%q is used twice", p.Name)
			}
			names[p.Name] = true
		}
		if p.Port < 1 || p.Port > 65535 {
			return bad(at+".port", "%d: from 1 to 65535", p.Port)
		}
		switch p.Protocol {
		case "", corev1.ProtocolTCP, corev1.ProtocolUDP:
		default:
			return bad(at+".protocol", "%q: TCP or UDP", p.Protocol)
		}
		pp := fmt.Sprintf("%d/%s", p.Port, orTCP(p.Protocol))
		if portProtos[pp] {
			return bad(at, "Duplicate value: port %s is used twice", pp)
		}
		portProtos[pp] = true
		if p.AppProtocol != nil {
			o.Warnings = append(o.Warnings, at+".appProtocol: netlab does not use it")
		}
		if p.TargetPort.IntVal != 0 || p.TargetPort.StrVal != "" {
			if p.TargetPort.Type == 0 && (p.TargetPort.IntVal < 1 || p.TargetPort.IntVal > 65535) {
				return bad(at+".targetPort", "%d: from 1 to 65535", p.TargetPort.IntVal)
			}
			if p.TargetPort.Type == 1 && firstOf(validation.IsValidPortName(p.TargetPort.StrVal)) != "" {
				return bad(at+".targetPort", "%q is not a port number or a container port's name", p.TargetPort.StrVal)
			}
		}
		if p.NodePort != 0 {
			if sp.Type != corev1.ServiceTypeNodePort {
				return bad(at+".nodePort", "may not be used when type is %q", string(orDefault(sp.Type)))
			}
			if p.NodePort < NodePortMin || p.NodePort > NodePortMax {
				return bad(at+".nodePort", "%d: from %d to %d", p.NodePort, NodePortMin, NodePortMax)
			}
			if nodePorts[p.NodePort] {
				return bad(at+".nodePort", "%d is used twice", p.NodePort)
			}
			nodePorts[p.NodePort] = true
		}
	}
	return nil
}

func orTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// lastOf is a prefix's last (broadcast) address.
func lastOf(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom4(a)
}

func orDefault(t corev1.ServiceType) corev1.ServiceType {
	if t == "" {
		return corev1.ServiceTypeClusterIP
	}
	return t
}
