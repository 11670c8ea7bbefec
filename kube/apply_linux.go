package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"netlab/internal/inventory"
	"netlab/internal/ipam"
	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/overlay"
)

// storeFile is where a lab keeps its Kubernetes objects.
const storeFile = "kube.json"

// Cluster is a running overlay lab as the Kubernetes API: its state, its
// objects, and how to change the kernel (through netops) and run pods.
type Cluster struct {
	S     *state.State
	Store Store
	// Exe is the netlab binary, which runs the pods' servers.
	Exe string
	R   *netops.Runner
}

// Open reads lab s's Kubernetes objects; a lab not of the Kubernetes
// model has none to hold.
func Open(s *state.State, exe string, r *netops.Runner) (*Cluster, error) {
	if s.Mode != "overlay" {
		return nil, fmt.Errorf("lab %s is a %s-mode lab: Services, Deployments and Pods go into a Kubernetes-model lab (sudo netlab overlay-mode)", s.Lab, s.Mode)
	}
	if !s.Topology.Embedded {
		return nil, fmt.Errorf("lab %s is on a real node: netlab applies manifests to embedded labs for now", s.Lab)
	}
	c := &Cluster{S: s, Exe: exe, R: r}
	data, err := state.LoadFile(s.Lab, storeFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(data, &c.Store); err != nil {
			return nil, fmt.Errorf("%s of lab %s is damaged: %w", storeFile, s.Lab, err)
		}
	}
	return c, nil
}

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c.Store, "", "  ")
	if err != nil {
		return err
	}
	return state.SaveFile(c.S.Lab, storeFile, append(data, '\n'))
}

var image = regexp.MustCompile(`^netlab/web:([A-Za-z0-9_][A-Za-z0-9_.-]{0,62})$`)

// template reads a pod spec into what netlab runs, refusing by path what
// it does not implement.
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
	ports := map[int]bool{}
	for i, ct := range spec.Containers {
		at := fmt.Sprintf(".containers[%d]", i)
		m := image.FindStringSubmatch(ct.Image)
		if m == nil {
			return t, nil, bad(at+".image", "%q: netlab runs netlab/web:TAG, its web server, which answers with the pod's name, IP and node and \"the color is TAG\"", ct.Image)
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
			".livenessProbe": ct.LivenessProbe != nil, ".readinessProbe": ct.ReadinessProbe != nil} {
			if set {
				warn = append(warn, path+at+p+": not used by netlab yet (a pod is Ready once its server listens)")
			}
		}
		c := Container{Name: ct.Name, Tag: m[1]}
		for j, p := range ct.Ports {
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				return t, nil, bad(fmt.Sprintf("%s.ports[%d].containerPort", at, j), "%d: from 1 to 65535", p.ContainerPort)
			}
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				return t, nil, bad(fmt.Sprintf("%s.ports[%d].protocol", at, j), "%q: netlab/web serves TCP", p.Protocol)
			}
			c.Ports = append(c.Ports, ContainerPort{Name: p.Name, Port: int(p.ContainerPort)})
		}
		if ports[c.ServePort()] {
			return t, nil, bad(at+".ports", "port %d is another container's in the same pod (they share one network namespace)", c.ServePort())
		}
		ports[c.ServePort()] = true
		t.Containers = append(t.Containers, c)
	}
	return t, warn, nil
}

// Plan checks objects as the API server would, before anything changes:
// what would be created or configured, or the first error.
func (c *Cluster) Plan(objs []Object) ([]Object, error) {
	for i := range objs {
		o := &objs[i]
		switch {
		case o.Pod != nil:
			p := o.Pod
			if p.Namespace == "" {
				p.Namespace = "default"
			}
			if !dns1123.MatchString(p.Name) || len(p.Name) > 63 {
				return nil, &ManifestError{Doc: o.Doc, Object: "Pod " + p.Name, Path: "metadata.name", Reason: fmt.Sprintf("%q is not a DNS-1123 label", p.Name)}
			}
			if _, w, err := template(o.Doc, "Pod "+p.Name, "spec", p.Labels, p.Spec); err != nil {
				return nil, err
			} else {
				o.Warnings = append(o.Warnings, w...)
			}
		case o.Deployment != nil:
			d := o.Deployment
			if d.Namespace == "" {
				d.Namespace = "default"
			}
			bad := func(path, reason string, a ...any) error {
				return &ManifestError{Doc: o.Doc, Object: "Deployment " + d.Name, Path: path, Reason: fmt.Sprintf(reason, a...)}
			}
			if !dns1123.MatchString(d.Name) || len(d.Name) > 52 {
				return nil, bad("metadata.name", "%q is not a DNS-1123 label of at most 52 (its pods add a suffix)", d.Name)
			}
			if d.Spec.Replicas != nil && (*d.Spec.Replicas < 0 || *d.Spec.Replicas > 256) {
				return nil, bad("spec.replicas", "%d: from 0 to 256 in this lab", *d.Spec.Replicas)
			}
			if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
				return nil, bad("spec.selector", "required: matchLabels")
			}
			if len(d.Spec.Selector.MatchExpressions) > 0 {
				return nil, bad("spec.selector.matchExpressions", "netlab implements matchLabels")
			}
			if !Matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				return nil, bad("spec.template.metadata.labels", "`selector` does not match template `labels`")
			}
			if _, w, err := template(o.Doc, "Deployment "+d.Name, "spec.template.spec", d.Spec.Template.Labels, d.Spec.Template.Spec); err != nil {
				return nil, err
			} else {
				o.Warnings = append(o.Warnings, w...)
			}
			if d.Spec.Strategy.Type != "" && d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType && d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				return nil, bad("spec.strategy.type", "%q: RollingUpdate or Recreate", d.Spec.Strategy.Type)
			}
		case o.Service != nil:
			s := o.Service
			for _, old := range c.Store.Services {
				if old.Namespace == s.Namespace && old.Name == s.Name && s.Spec.ClusterIP != "" && s.Spec.ClusterIP != "None" && old.ClusterIP.String() != s.Spec.ClusterIP {
					return nil, &ManifestError{Doc: o.Doc, Object: "Service " + s.Name, Path: "spec.clusterIP", Reason: "field is immutable"}
				}
			}
			if s.Spec.ClusterIP != "" && s.Spec.ClusterIP != "None" {
				for _, other := range c.Store.Services {
					if other.ClusterIP.String() == s.Spec.ClusterIP && (other.Namespace != s.Namespace || other.Name != s.Name) {
						return nil, &ManifestError{Doc: o.Doc, Object: "Service " + s.Name, Path: "spec.clusterIP",
							Reason: fmt.Sprintf("%s is already allocated to %s/%s", s.Spec.ClusterIP, other.Namespace, other.Name)}
					}
				}
			}
			if len(s.Spec.Selector) > 0 && !c.selects(s.Namespace, s.Spec.Selector, objs) {
				o.Warnings = append(o.Warnings, "spec.selector: matches no pod (yet): the Service has no endpoints")
			}
		}
	}
	return objs, nil
}

// selects reports whether selector picks any pod that is or will be.
func (c *Cluster) selects(ns string, sel map[string]string, objs []Object) bool {
	for _, p := range c.Store.Pods {
		if p.Namespace == ns && Matches(sel, p.Template.Labels) {
			return true
		}
	}
	for _, o := range objs {
		switch {
		case o.Pod != nil && Matches(sel, o.Pod.Labels):
			return true
		case o.Deployment != nil && Matches(sel, o.Deployment.Spec.Template.Labels):
			return true
		}
	}
	return false
}

// Apply makes the cluster hold objs (already through Plan): Services get
// a ClusterIP (and NodePorts), Pods and Deployments' replicas get a
// namespace, an address and their servers, and every node's rules follow.
func (c *Cluster) Apply(ctx context.Context, objs []Object) ([]string, error) {
	var said []string
	for _, o := range objs {
		var what string
		var err error
		switch {
		case o.Service != nil:
			what, err = c.applyService(o.Service)
		case o.Deployment != nil:
			what, err = c.applyDeployment(ctx, o.Deployment)
		case o.Pod != nil:
			what, err = c.applyPod(ctx, o.Pod)
		}
		if err != nil {
			_ = c.save()
			return said, err
		}
		said = append(said, what)
	}
	if err := c.Sync(ctx); err != nil {
		return said, err
	}
	return said, c.save()
}

func (c *Cluster) findService(ns, name string) int {
	for i, s := range c.Store.Services {
		if s.Namespace == ns && s.Name == name {
			return i
		}
	}
	return -1
}

func (c *Cluster) applyService(s *corev1.Service) (string, error) {
	sv := Service{Namespace: s.Namespace, Name: s.Name, Selector: s.Spec.Selector, Type: string(orDefault(s.Spec.Type)), Created: time.Now().UTC()}
	i := c.findService(sv.Namespace, sv.Name)
	verb := "created"
	if i >= 0 {
		verb, sv.Created = "configured", c.Store.Services[i].Created
	}
	switch s.Spec.ClusterIP {
	case "None":
	case "":
		if i >= 0 {
			sv.ClusterIP = c.Store.Services[i].ClusterIP
		} else {
			ip, err := c.freeClusterIP()
			if err != nil {
				return "", err
			}
			sv.ClusterIP = ip
		}
	default:
		sv.ClusterIP = netip.MustParseAddr(s.Spec.ClusterIP)
	}
	if s.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		sv.AffinitySeconds = 10800 // kube-proxy's default: three hours
		if cf := s.Spec.SessionAffinityConfig; cf != nil && cf.ClientIP != nil && cf.ClientIP.TimeoutSeconds != nil {
			sv.AffinitySeconds = int(*cf.ClientIP.TimeoutSeconds)
		}
	}
	for _, p := range s.Spec.Ports {
		pt := Port{Name: p.Name, Protocol: string(p.Protocol), Port: int(p.Port), NodePort: int(p.NodePort)}
		if pt.Protocol == "" {
			pt.Protocol = "TCP"
		}
		switch {
		case p.TargetPort.Type == 1:
			pt.TargetName = p.TargetPort.StrVal
		case p.TargetPort.IntVal != 0:
			pt.TargetPort = int(p.TargetPort.IntVal)
		default:
			pt.TargetPort = pt.Port
		}
		if sv.Type == "NodePort" && pt.NodePort == 0 {
			if i >= 0 {
				for _, old := range c.Store.Services[i].Ports {
					if old.Name == pt.Name && old.NodePort != 0 {
						pt.NodePort = old.NodePort
					}
				}
			}
			if pt.NodePort == 0 {
				np, err := c.freeNodePort(sv)
				if err != nil {
					return "", err
				}
				pt.NodePort = np
			}
		}
		sv.Ports = append(sv.Ports, pt)
	}
	for _, other := range c.Store.Services {
		if other.Namespace == sv.Namespace && other.Name == sv.Name {
			continue
		}
		for _, op := range other.Ports {
			for _, p := range sv.Ports {
				if p.NodePort != 0 && p.NodePort == op.NodePort {
					return "", &ManifestError{Doc: "Service " + sv.Name, Path: "spec.ports.nodePort", Reason: fmt.Sprintf("%d is already allocated to %s/%s", p.NodePort, other.Namespace, other.Name)}
				}
			}
		}
	}
	if i >= 0 {
		c.Store.Services[i] = sv
	} else {
		c.Store.Services = append(c.Store.Services, sv)
	}
	return "service/" + sv.Name + " " + verb, nil
}

// freeClusterIP picks an unused address of the service range, from .11
// on (.1 is the API server's by custom, .10 the cluster DNS's).
func (c *Cluster) freeClusterIP() (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, s := range c.Store.Services {
		used[s.ClusterIP] = true
	}
	for n := uint64(11); n < 1<<20; n++ {
		a, err := ipam.Nth(ServiceCIDR, n)
		if err != nil {
			break
		}
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("the service range is full")
}

func (c *Cluster) freeNodePort(self Service) (int, error) {
	used := map[int]bool{}
	for _, s := range c.Store.Services {
		for _, p := range s.Ports {
			used[p.NodePort] = true
		}
	}
	for _, p := range self.Ports {
		used[p.NodePort] = true
	}
	for n := NodePortMin; n <= NodePortMax; n++ {
		if !used[n] {
			return n, nil
		}
	}
	return 0, errors.New("every NodePort is allocated")
}

func (c *Cluster) applyPod(ctx context.Context, p *corev1.Pod) (string, error) {
	t, _, err := template("", "", "", p.Labels, p.Spec)
	if err != nil {
		return "", err
	}
	for _, old := range c.Store.Pods {
		if old.Namespace == p.Namespace && old.Name == p.Name {
			if TemplateHash(old.Template) == TemplateHash(t) {
				return "pod/" + p.Name + " unchanged", nil
			}
			return "", &ManifestError{Doc: "Pod " + p.Name, Path: "spec", Reason: "a pod's containers cannot change: delete it and apply it again"}
		}
	}
	if err := c.startPod(ctx, Pod{Namespace: p.Namespace, Name: p.Name, Template: t}); err != nil {
		return "", err
	}
	return "pod/" + p.Name + " created", nil
}

func (c *Cluster) applyDeployment(ctx context.Context, d *appsv1.Deployment) (string, error) {
	t, _, err := template("", "", "", d.Spec.Template.Labels, d.Spec.Template.Spec)
	if err != nil {
		return "", err
	}
	replicas := 1
	if d.Spec.Replicas != nil {
		replicas = int(*d.Spec.Replicas)
	}
	dep := Deployment{Namespace: d.Namespace, Name: d.Name, Replicas: replicas, Selector: d.Spec.Selector.MatchLabels, Template: t, Created: time.Now().UTC()}
	dep.Hash = TemplateHash(t)
	dep.Template.Labels = copyLabels(t.Labels)
	dep.Template.Labels["pod-template-hash"] = dep.Hash
	verb := "created"
	found := -1
	for i, old := range c.Store.Deployments {
		if old.Namespace == dep.Namespace && old.Name == dep.Name {
			found, verb, dep.Created = i, "configured", old.Created
			if old.Hash == dep.Hash && old.Replicas == dep.Replicas {
				verb = "unchanged"
			}
		}
	}
	if found >= 0 {
		c.Store.Deployments[found] = dep
	} else {
		c.Store.Deployments = append(c.Store.Deployments, dep)
	}
	owner := dep.Namespace + "/" + dep.Name
	// Pods of another template go (the rolling update comes later: for
	// now, the old ones are replaced at once), and the count is made up.
	var keep []Pod
	for _, p := range c.Store.Pods {
		if p.Owner == owner && p.Template.Labels["pod-template-hash"] != dep.Hash {
			if err := c.stopPod(ctx, p); err != nil {
				return "", err
			}
			continue
		}
		keep = append(keep, p)
	}
	c.Store.Pods = keep
	mine := 0
	for _, p := range c.Store.Pods {
		if p.Owner == owner {
			mine++
		}
	}
	for ; mine > dep.Replicas; mine-- {
		for i := len(c.Store.Pods) - 1; i >= 0; i-- {
			if c.Store.Pods[i].Owner == owner {
				if err := c.stopPod(ctx, c.Store.Pods[i]); err != nil {
					return "", err
				}
				c.Store.Pods = append(c.Store.Pods[:i], c.Store.Pods[i+1:]...)
				break
			}
		}
	}
	for ; mine < dep.Replicas; mine++ {
		p := Pod{Namespace: dep.Namespace, Name: c.podName(dep), Template: dep.Template, Owner: owner}
		if err := c.startPod(ctx, p); err != nil {
			return "", err
		}
	}
	return "deployment.apps/" + dep.Name + " " + verb, nil
}

func copyLabels(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// podName names a Deployment's pod as Kubernetes does: the Deployment's
// name, its template's hash, and five random characters.
func (c *Cluster) podName(d Deployment) string {
	for {
		b := make([]byte, 5)
		for i := range b {
			b[i] = "bcdfghjklmnpqrstvwxz2456789"[rand.IntN(27)]
		}
		name := d.Name + "-" + d.Hash + "-" + string(b)
		taken := false
		for _, p := range c.Store.Pods {
			taken = taken || p.Name == name
		}
		if !taken {
			return name
		}
	}
}

// node picks where a new pod goes: the node with the fewest pods.
func (c *Cluster) node() topo.Node {
	nodes := c.S.Topology.LocalNodes()
	count := map[string]int{}
	for _, p := range c.Store.Pods {
		count[p.Node]++
	}
	best := nodes[0]
	for _, n := range nodes[1:] {
		if count[n.Name] < count[best.Name] {
			best = n
		}
	}
	return best
}

// freeIP is an unused address of a node's pod CIDR: the first after the
// last one given out, round the range, as host-local IPAM does.
func (c *Cluster) freeIP(n topo.Node) (netip.Addr, error) {
	used := map[netip.Addr]bool{n.Gateway(): true}
	for _, w := range c.S.Workloads {
		used[w.IP] = true
	}
	for _, p := range c.Store.Pods {
		used[p.IP] = true
	}
	first, _ := ipam.Nth(n.PodCIDR, 2)
	last, _ := ipam.Nth(n.PodCIDR, ipam.Size(n.PodCIDR)) // the broadcast address is never given
	a := c.Store.LastIP[n.Name]
	if !a.IsValid() || !n.PodCIDR.Contains(a) {
		a = last
	}
	for tries := uint64(0); tries < ipam.Size(n.PodCIDR); tries++ {
		if a == last {
			a = first
		} else {
			a = a.Next()
		}
		if !used[a] {
			if c.Store.LastIP == nil {
				c.Store.LastIP = map[string]netip.Addr{}
			}
			c.Store.LastIP[n.Name] = a
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s's pod CIDR %s is full", n.Name, n.PodCIDR)
}

// startPod builds a pod as overlay-mode builds one (a namespace, a veth
// pair into cni0, an address, a default route), starts its servers, and
// records it.
func (c *Cluster) startPod(ctx context.Context, p Pod) error {
	t := c.S.Topology
	n := c.node()
	ip, err := c.freeIP(n)
	if err != nil {
		return err
	}
	p.Node, p.IP, p.Created = n.Name, ip, time.Now().UTC()
	obj := "k-" + p.Namespace + "-" + p.Name
	p.NS = names.NetnsName(c.S.Lab, obj)
	p.HostIface = hostIface(p.Namespace, p.Name)
	w := state.Workload{Name: obj, Kind: "pod", Node: n.Name, NS: p.NS, IP: ip, Prefix: n.PodCIDR.Bits(), HostIface: p.HostIface}
	ops := overlay.Pod(t, n, w)
	for i, op := range ops {
		if v, ok := op.(netops.VethAdd); ok {
			// The CNI config flannel ships has hairpinMode: a pod reaching
			// itself through its Service comes back out of the port it
			// went in by (cni0 bridges it back after br_netfilter's DNAT).
			v.Hairpin = true
			ops[i] = v
		}
	}
	if err := c.R.Run(ctx, ops); err != nil {
		return fmt.Errorf("pod %s: %w", p.Name, err)
	}
	var spec strings.Builder
	for _, ct := range p.Template.Containers {
		fmt.Fprintf(&spec, "%s %s %s %s image %d %s\n", netops.Path(p.NS), p.Name, ip, n.Name, ct.ServePort(), ct.Tag)
	}
	c.Store.Pods = append(c.Store.Pods, p) // recorded first: a failed start is removed by down
	if err := lab.StartSpec(c.Exe, c.S.Lab, n.Host, spec.String(), "pods.log"); err != nil {
		return fmt.Errorf("pod %s: start its servers: %w", p.Name, err)
	}
	c.Store.Pods[len(c.Store.Pods)-1].Ready = true
	return nil
}

// stopPod ends a pod's processes and removes its namespace (its veth pair
// with it).
func (c *Cluster) stopPod(ctx context.Context, p Pod) error {
	var st unix.Stat_t
	if err := unix.Stat(netops.Path(p.NS), &st); err == nil {
		for _, pid := range inventory.Processes("", map[uint64]bool{st.Ino: true}) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return c.R.Run(ctx, []netops.Op{netops.NetnsDel{Name: string(p.NS)}})
}

// Delete removes an object (kind service, deployment or pod) and what it
// made.
func (c *Cluster) Delete(ctx context.Context, kind, ns, name string) (string, error) {
	switch kind {
	case "service":
		i := c.findService(ns, name)
		if i < 0 {
			return "", fmt.Errorf("services %q not found", name)
		}
		c.Store.Services = append(c.Store.Services[:i], c.Store.Services[i+1:]...)
		kind = "service"
	case "deployment":
		i := -1
		for j, d := range c.Store.Deployments {
			if d.Namespace == ns && d.Name == name {
				i = j
			}
		}
		if i < 0 {
			return "", fmt.Errorf("deployments.apps %q not found", name)
		}
		c.Store.Deployments = append(c.Store.Deployments[:i], c.Store.Deployments[i+1:]...)
		var keep []Pod
		for _, p := range c.Store.Pods {
			if p.Owner == ns+"/"+name {
				if err := c.stopPod(ctx, p); err != nil {
					return "", err
				}
				continue
			}
			keep = append(keep, p)
		}
		c.Store.Pods = keep
		kind = "deployment.apps"
	case "pod":
		i := -1
		for j, p := range c.Store.Pods {
			if p.Namespace == ns && p.Name == name {
				i = j
			}
		}
		if i < 0 {
			return "", fmt.Errorf("pods %q not found", name)
		}
		if err := c.stopPod(ctx, c.Store.Pods[i]); err != nil {
			return "", err
		}
		owner := c.Store.Pods[i].Owner
		c.Store.Pods = append(c.Store.Pods[:i], c.Store.Pods[i+1:]...)
		// A Deployment's pod comes back, as its ReplicaSet makes up the count.
		for _, d := range c.Store.Deployments {
			if d.Namespace+"/"+d.Name == owner {
				p := Pod{Namespace: d.Namespace, Name: c.podName(d), Template: d.Template, Owner: owner}
				if err := c.startPod(ctx, p); err != nil {
					return "", err
				}
			}
		}
	default:
		return "", fmt.Errorf("kind %q: service, deployment or pod", kind)
	}
	if err := c.Sync(ctx); err != nil {
		return "", err
	}
	return kind + " \"" + name + "\" deleted", c.save()
}

// Endpoints are a Service's ready endpoints per port, in address order.
func (c *Cluster) Endpoints(s Service) map[string][]Endpoint {
	out := map[string][]Endpoint{}
	var pods []Pod
	for _, p := range c.Store.Pods {
		if p.Namespace == s.Namespace && p.Ready && Matches(s.Selector, p.Template.Labels) {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].IP.Less(pods[j].IP) })
	for _, sp := range s.Ports {
		for _, p := range pods {
			port := sp.TargetPort
			if sp.TargetName != "" {
				port = 0
				for _, ct := range p.Template.Containers {
					for _, cp := range ct.Ports {
						if cp.Name == sp.TargetName {
							port = cp.Port
						}
					}
				}
				if port == 0 {
					continue // this pod has no port of that name
				}
			}
			out[sp.Name] = append(out[sp.Name], Endpoint{IP: p.IP, Port: port})
		}
	}
	return out
}

// ServicePorts are the service ports as kube-proxy sees them.
func (c *Cluster) ServicePorts() []ServicePort {
	var out []ServicePort
	for _, s := range c.Store.Services {
		if !s.ClusterIP.IsValid() {
			continue // headless: no rules, only DNS
		}
		eps := c.Endpoints(s)
		for _, p := range s.Ports {
			out = append(out, ServicePort{Namespace: s.Namespace, Name: s.Name, PortName: p.Name, Protocol: p.Protocol,
				ClusterIP: s.ClusterIP, Port: p.Port, NodePort: p.NodePort, AffinitySeconds: s.AffinitySeconds, Endpoints: eps[p.Name]})
		}
	}
	return out
}

// Sync writes every node's kube-proxy rules from the services and their
// endpoints now, each rule with netlab's comment beside kube-proxy's.
func (c *Cluster) Sync(ctx context.Context) error {
	t := c.S.Topology
	gen := Generate(c.ServicePorts(), t.Overlay.ClusterCIDR.String())
	marker := names.RuleMarker(c.S.Lab)
	var ops []netops.Op
	next := map[string][]string{}
	for _, n := range t.LocalNodes() {
		ipt := netops.IPTables{NS: n.NS, Marker: marker}
		var del []netops.Op
		for table, lines := range map[string][]string{"filter": gen.Filter, "nat": gen.NAT} {
			have := map[string]bool{}
			for _, l := range lines {
				switch {
				case strings.HasPrefix(l, ":"):
					name := strings.Fields(l)[0][1:]
					ipt.Chains = append(ipt.Chains, netops.Chain{Table: table, Name: name})
					have[name] = true
				case strings.HasPrefix(l, "-A "):
					args := netops.SplitSaved(l)
					ipt.Rules = append(ipt.Rules, netops.Rule{Table: table, Chain: args[1], Spec: args[2:], Why: "kube-proxy"})
				}
			}
			var gone []string
			for _, old := range c.Store.Chains[table] {
				if !have[old] {
					gone = append(gone, old)
				}
			}
			if len(gone) > 0 {
				del = append(del, netops.IPTablesDel{NS: n.NS, Table: table, Chains: gone})
			}
			if n.Name == t.LocalNodes()[0].Name {
				for name := range have {
					next[table] = append(next[table], name)
				}
				sort.Strings(next[table])
			}
		}
		if !c.Store.Jumps {
			// kube-proxy puts its jumps first in the built-in chains, in
			// this order: inserted one by one, the last goes first.
			js := Jumps()
			for i := len(js) - 1; i >= 0; i-- {
				j := js[i]
				ipt.Rules = append(ipt.Rules, netops.Rule{Table: j.Table, Chain: j.Chain, Insert: true, Spec: netops.SplitSaved(j.Rule), Why: "kube-proxy"})
			}
		}
		ops = append(ops, ipt)
		ops = append(ops, del...)
	}
	if err := c.R.Run(ctx, ops); err != nil {
		return fmt.Errorf("load kube-proxy's rules: %w", err)
	}
	c.Store.Jumps = true
	c.Store.Chains = next
	return nil
}
