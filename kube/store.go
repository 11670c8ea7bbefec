package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"netlab/internal/netops"
)

// Store is what a lab holds of Kubernetes: its Services, Deployments and
// pods, kept beside the lab's state (so that down ends them with it).
type Store struct {
	Services    []Service    `json:"services"`
	Deployments []Deployment `json:"deployments"`
	Pods        []Pod        `json:"pods"`
	// Chains are the KUBE-* chains loaded on every node, per table, so
	// that the next sync removes the ones no longer needed.
	Chains map[string][]string `json:"chains,omitempty"`
	// Jumps reports whether the jumps from the built-in chains are in.
	Jumps bool `json:"jumps"`
	// LastIP is the last address given out on each node: the next pod
	// gets the one after, as CNI's host-local IPAM does, so a deleted
	// pod's address is not at once another pod's.
	LastIP map[string]netip.Addr `json:"last_ip,omitempty"`
	// Seq counts the pods made so far: a new pod's name comes from it, so
	// that every node of a real cluster, computing the same cluster from
	// the same commands, names it alike.
	Seq int `json:"seq,omitempty"`
	// UDP are the endpoints of each UDP service port ("10.96.0.10:53")
	// as the rules last sent them: what changed is cleared from
	// conntrack.
	UDP map[string][]netip.Addr `json:"udp,omitempty"`
	// Namespaces are the namespaces applied as objects, with their
	// labels; a namespace a pod or Service names exists without one.
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// Policies are the NetworkPolicies, as applied.
	Policies []Policy `json:"network_policies,omitempty"`
	// PolicyChains are the NetworkPolicy chains in each node's filter
	// table ("node1", "node1 ip6" for ip6tables), and PolicySets its
	// ipsets: the next sync removes the ones no longer needed.
	PolicyChains map[string][]string `json:"policy_chains,omitempty"`
	PolicySets   map[string][]string `json:"policy_sets,omitempty"`
	// PolicyJumps reports whether the jumps to NetworkPolicy's top-level
	// chains are in, on the nodes here.
	PolicyJumps bool `json:"policy_jumps,omitempty"`
	// NFTSynced are, in nftables mode, the fingerprints of table
	// kube-proxy's chains as the last sync wrote them, by family ("ip",
	// "ip6"): the next sync rewrites only the chains that changed.
	NFTSynced map[string]map[string]string `json:"nft_synced,omitempty"`
}

// Namespace is a namespace applied as an object.
type Namespace struct {
	Name    string            `json:"name"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`
}

// Policy is a NetworkPolicy as applied: its spec as the API holds it.
type Policy struct {
	Namespace string                         `json:"namespace"`
	Name      string                         `json:"name"`
	Labels    map[string]string              `json:"labels,omitempty"`
	Spec      networkingv1.NetworkPolicySpec `json:"spec"`
	Created   time.Time                      `json:"created"`
}

// Service is a Service as applied, with what netlab allocated for it.
type Service struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Selector  map[string]string `json:"selector,omitempty"`
	Type      string            `json:"type"`
	// ClusterIP is spec.clusterIP, of the Service's first family; it is
	// invalid for a headless Service.
	ClusterIP netip.Addr `json:"cluster_ip"`
	// ClusterIP2 is a dual-stack Service's second ClusterIP
	// (spec.clusterIPs[1]), of its second family.
	ClusterIP2 netip.Addr `json:"cluster_ip2,omitzero"`
	// Families are spec.ipFamilies ("IPv4", "IPv6"), the first the
	// ClusterIP's; none is IPv4 alone (a store of before dual-stack).
	Families []string `json:"ip_families,omitempty"`
	// Policy is spec.ipFamilyPolicy ("" is SingleStack).
	Policy          string    `json:"ip_family_policy,omitempty"`
	Ports           []Port    `json:"ports"`
	AffinitySeconds int       `json:"affinity_seconds,omitempty"`
	Created         time.Time `json:"created"`
	// Static are the endpoints of a Service without a selector that the
	// cluster keeps itself (default/kubernetes: the API server's).
	Static []Endpoint `json:"static,omitempty"`
	// System says the cluster made it: "apiserver" (default/kubernetes).
	System string `json:"system,omitempty"`
}

// IPv4 and IPv6 are the names of the families in a Service's ipFamilies.
const (
	IPv4 = "IPv4"
	IPv6 = "IPv6"
)

// IPFamilies are the Service's families, the ClusterIP's first.
func (s Service) IPFamilies() []string {
	if len(s.Families) == 0 {
		return []string{IPv4}
	}
	return s.Families
}

// HasFamily says whether the Service is of family fam (IPv4 or IPv6):
// its rules, its endpoints and its DNS records of that family exist.
func (s Service) HasFamily(fam string) bool { return slices.Contains(s.IPFamilies(), fam) }

// ClusterIPOf is the Service's ClusterIP of family fam, invalid if it
// has none (headless, or not of that family).
func (s Service) ClusterIPOf(fam string) netip.Addr {
	for _, ip := range []netip.Addr{s.ClusterIP, s.ClusterIP2} {
		if ip.IsValid() && FamilyOf(ip) == fam {
			return ip
		}
	}
	return netip.Addr{}
}

// ClusterIPs are its ClusterIPs in the order of its families
// (spec.clusterIPs), none for a headless Service.
func (s Service) ClusterIPs() []netip.Addr {
	var out []netip.Addr
	for _, ip := range []netip.Addr{s.ClusterIP, s.ClusterIP2} {
		if ip.IsValid() {
			out = append(out, ip)
		}
	}
	return out
}

// FamilyOf is an address's family, as ipFamilies names it.
func FamilyOf(ip netip.Addr) string {
	if ip.Is4() {
		return IPv4
	}
	return IPv6
}

// Port is one port of a Service.
type Port struct {
	Name     string `json:"name,omitempty"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
	// TargetPort is a number, or TargetName a container port's name.
	TargetPort int    `json:"target_port,omitempty"`
	TargetName string `json:"target_name,omitempty"`
	NodePort   int    `json:"node_port,omitempty"`
}

// Deployment is a Deployment as applied.
type Deployment struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Replicas  int               `json:"replicas"`
	Selector  map[string]string `json:"selector"`
	Template  PodTemplate       `json:"template"`
	// Hash is the template's pod-template-hash.
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	// Strategy is RollingUpdate (with MaxSurge and MaxUnavailable as
	// counts of pods) or Recreate.
	Strategy string `json:"strategy"`
	// MaxSurge and MaxUnavailable are as the manifest says them (a count
	// or a percentage of replicas), counted at each rollout.
	MaxSurge         string `json:"max_surge"`
	MaxUnavailable   string `json:"max_unavailable"`
	MinReadySeconds  int    `json:"min_ready_seconds,omitempty"`
	ProgressDeadline int    `json:"progress_deadline_seconds"`
	Paused           bool   `json:"paused,omitempty"`
	// Revisions are the templates rolled out, oldest first (the last is
	// the current one), as ReplicaSets keep them.
	Revisions []Revision `json:"revisions"`
	// Stalled says why the last rollout stopped, if it did.
	Stalled string `json:"stalled,omitempty"`
	// Rolling says a rollout is under way, and Deadline when it stalls:
	// the lab's controller goes on with one that waits for another
	// machine's pods.
	Rolling  bool      `json:"rolling,omitempty"`
	Deadline time.Time `json:"deadline,omitempty"`
}

// Revision is one template a Deployment rolled out.
type Revision struct {
	Number   int         `json:"revision"`
	Hash     string      `json:"hash"`
	Template PodTemplate `json:"template"`
}

// PodTemplate is what netlab runs of a pod: its labels and containers.
type PodTemplate struct {
	Labels     map[string]string `json:"labels"`
	Containers []Container       `json:"containers"`
}

// Container is a container of a pod: netlab/web:TAG, serving on its
// ports (the first one, or 80 when it names none).
type Container struct {
	Name  string          `json:"name"`
	Tag   string          `json:"tag"`
	Ports []ContainerPort `json:"ports,omitempty"`
	// Readiness is its readinessProbe, if it has one.
	Readiness *Probe `json:"readiness,omitempty"`
}

// Probe is a readinessProbe: an HTTP GET of Path (or, with TCP, a
// connection) to Port, as the kubelet makes it from the node.
type Probe struct {
	TCP          bool   `json:"tcp,omitempty"`
	Path         string `json:"path,omitempty"`
	Port         int    `json:"port"`
	InitialDelay int    `json:"initial_delay_seconds,omitempty"`
	Period       int    `json:"period_seconds"`
	// Timeout bounds one probe, in seconds (0 in a store of before it: 1).
	Timeout int `json:"timeout_seconds,omitempty"`
}

// ContainerPort is a port a container declares: TCP, or UDP.
type ContainerPort struct {
	Name string `json:"name,omitempty"`
	Port int    `json:"port"`
	// Protocol is "UDP" for a UDP port ("" is TCP).
	Protocol string `json:"protocol,omitempty"`
}

// ServesUDP says the container's server answers over UDP: its first
// port is UDP.
func (c Container) ServesUDP() bool { return len(c.Ports) > 0 && c.Ports[0].Protocol == "UDP" }

// Pod is a pod netlab runs: a network namespace on a node, with a web
// server per container.
type Pod struct {
	Namespace string      `json:"namespace"`
	Name      string      `json:"name"`
	Template  PodTemplate `json:"template"`
	Node      string      `json:"node"`
	IP        netip.Addr  `json:"ip"`
	// IP6 is its IPv6 address in a dual-stack cluster (its second
	// podIPs entry).
	IP6       netip.Addr `json:"ip6,omitempty"`
	NS        netops.NS  `json:"netns"`
	HostIface string     `json:"host_iface"`
	// Owner is the Deployment that made it, if any.
	Owner string `json:"owner,omitempty"`
	// System says what a pod of the cluster's own runs instead of
	// netlab/web: "dns", the cluster DNS.
	System  string    `json:"system,omitempty"`
	Ready   bool      `json:"ready"`
	Created time.Time `json:"created"`
	// Restarts counts the times the kubelet's part started its servers
	// again after they died (kubectl's RESTARTS); DeadSince is when they
	// were first found dead since the last start (zero while they run).
	Restarts  int       `json:"restarts,omitempty"`
	DeadSince time.Time `json:"dead_since,omitzero"`
	Restarted time.Time `json:"restarted,omitzero"`
}

// ServePort is the port a container's server listens on.
func (c Container) ServePort() int {
	if len(c.Ports) > 0 {
		return c.Ports[0].Port
	}
	return 80
}

// Matches reports whether labels carry every key of selector. An empty
// selector matches nothing (a Service without a selector has no endpoints).
func Matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TemplateHash is the pod-template-hash of a template, a short stable
// digest as Kubernetes' (an FNV-32a, in its safe alphabet).
func TemplateHash(t PodTemplate) string {
	h := fnv.New32a()
	keys := make([]string, 0, len(t.Labels))
	for k := range t.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s;", k, t.Labels[k])
	}
	for _, c := range t.Containers {
		// Ports as hashed before UDP ports were: the name and number; a
		// UDP port adds its protocol.
		type legacy struct {
			Name string
			Port int
		}
		var ports []legacy
		var udp []string
		for _, p := range c.Ports {
			ports = append(ports, legacy{p.Name, p.Port})
			if p.Protocol == "UDP" {
				udp = append(udp, fmt.Sprint(p.Port))
			}
		}
		fmt.Fprintf(h, "%s:%s:%v;", c.Name, c.Tag, ports)
		if len(udp) > 0 {
			fmt.Fprintf(h, "udp=%s;", strings.Join(udp, ","))
		}
		if p := c.Readiness; p != nil {
			// As hashed before probes had a timeout: the kubelet's default
			// one leaves the hash (and the pods' names) as they were.
			v := struct {
				TCP          bool
				Path         string
				Port         int
				InitialDelay int
				Period       int
			}{p.TCP, p.Path, p.Port, p.InitialDelay, p.Period}
			fmt.Fprintf(h, "%+v;", v)
			if p.Timeout > 1 {
				fmt.Fprintf(h, "timeout=%d;", p.Timeout)
			}
		}
	}
	return safe(fmt.Sprint(h.Sum32()))
}

// safe spells s in Kubernetes' alphabet for generated names: no vowels, no
// look-alikes (rand.SafeEncodeString's).
func safe(s string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	out := []byte(s)
	for i, c := range out {
		out[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(out)
}

// hostIface names a pod's end of its veth pair on the node as CNI's
// bridge plugin does: "veth" and 8 hex digits, within IFNAMSIZ.
func hostIface(ns, name string) string {
	h := sha256.Sum256([]byte(ns + "/" + name))
	return "veth" + hex.EncodeToString(h[:4])
}

// Fingerprint sums up the cluster as every node computes it: each
// Service's address and ports, each pod's name, node and address. The
// nodes of a real cluster, which have no control plane, agree on it when
// they ran the same commands.
func (s Store) Fingerprint() string {
	var lines []string
	for _, v := range s.Services {
		lines = append(lines, fmt.Sprintf("svc %s/%s %s %v", v.Namespace, v.Name, v.ClusterIP, v.Ports))
	}
	for _, p := range s.Pods {
		lines = append(lines, fmt.Sprintf("pod %s/%s %s %s %s", p.Namespace, p.Name, p.Node, p.IP, TemplateHash(p.Template)))
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:4])
}

// NamespaceLabels are the cluster's namespaces with their labels: the
// system ones, those applied as objects, and those something is in; each
// carries kubernetes.io/metadata.name, its own name.
func (st Store) NamespaceLabels() map[string]map[string]string {
	out := map[string]map[string]string{}
	add := func(name string, labels map[string]string) {
		l := out[name]
		if l == nil {
			l = map[string]string{}
			out[name] = l
		}
		for k, v := range labels {
			l[k] = v
		}
		l[NamespaceLabel] = name
	}
	for _, n := range systemNamespaces {
		add(n, nil)
	}
	for _, n := range st.Namespaces {
		add(n.Name, n.Labels)
	}
	for _, p := range st.Pods {
		add(p.Namespace, nil)
	}
	for _, s := range st.Services {
		add(s.Namespace, nil)
	}
	for _, d := range st.Deployments {
		add(d.Namespace, nil)
	}
	for _, p := range st.Policies {
		add(p.Namespace, nil)
	}
	return out
}
