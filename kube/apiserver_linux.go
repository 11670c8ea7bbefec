package kube

// The API server's part: the cluster's objects as a lab keeps them (the
// store, kube.json beside the lab's state), and what applying and
// deleting objects does to them. Each manifest has passed its own checks
// (validate.go); Plan checks the objects against the cluster and each
// other; Apply and Delete change the store and hand the work to the
// components: Deployments to the controller (deployment_linux.go), pods to
// the kubelet's part (kubelet_linux.go), the rules to the proxier
// (proxier_linux.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"netlab/internal/ipam"
	"netlab/internal/lab"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// Dry reports whether this is a dry run: its runner prints, changes nothing.
func (c *Cluster) Dry() bool { return c.R != nil && c.R.Mode == netops.DryRun }

// storeFile is where a lab keeps its Kubernetes objects.
const storeFile = "kube.json"

// Cluster is a running overlay lab as the Kubernetes API: its state, its
// objects, and how to change the kernel (through netops) and run pods.
type Cluster struct {
	S     *state.State
	Store Store
	// Exe is the netlab binary, which runs the pods' servers.
	Exe string
	// R changes the kernel; its Mode is the one way to know the run mode.
	// A dry run (netops.DryRun) plans without doing: R prints the
	// commands, no server starts, new pods count as Ready, nothing is saved.
	R *netops.Runner
	// Log, if set, gets what a command waits for.
	Log io.Writer
}

// Open reads lab s's Kubernetes objects; a lab not of the Kubernetes
// model has none to hold.
func Open(s *state.State, exe string, r *netops.Runner) (*Cluster, error) {
	if s.Mode != topo.OverlayMode {
		return nil, fmt.Errorf("lab %s is a %s-mode lab: Services, Deployments and Pods go into a Kubernetes-model lab (sudo netlab overlay-mode)", s.Lab, s.Mode)
	}
	st, err := LoadStore(s.Lab)
	if err != nil {
		return nil, err
	}
	return &Cluster{S: s, Exe: exe, R: r, Store: st}, nil
}

// LoadStore reads lab's Kubernetes objects (none, when it has none).
func LoadStore(lab string) (Store, error) {
	var st Store
	data, err := state.LoadFile(lab, storeFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return st, err
	default:
		if err := json.Unmarshal(data, &st); err != nil {
			return st, fmt.Errorf("%s of lab %s is damaged: %w", storeFile, lab, err)
		}
	}
	return st, nil
}

// Save writes the cluster's records (what a command interrupted half-way
// had made, say).
func (c *Cluster) Save() error { return c.save() }

func (c *Cluster) save() error {
	if c.Dry() {
		return nil
	}
	data, err := json.MarshalIndent(c.Store, "", "  ")
	if err != nil {
		return err
	}
	return state.SaveFile(c.S.Lab, storeFile, append(data, '\n'))
}

// Plan checks objects against the cluster and against each other, as the
// API server would check them one after the other, before anything
// changes: a ClusterIP or NodePort already allocated (or claimed twice in
// the input), an immutable field changed (a Service's clusterIP, a
// Deployment's selector, a Pod's spec). Each object has passed its own
// checks in Parse. One refusal refuses them all.
func (c *Cluster) Plan(objs []Object) ([]Object, error) {
	type owner struct{ ns, name string }
	// The cluster's own addresses, taken from the first apply on.
	clusterIPs := map[string]owner{DNSIP.String(): {"kube-system", "kube-dns"}, KubernetesIP.String(): {"default", "kubernetes"}}
	nodePorts := map[int]owner{}
	for _, sv := range c.Store.Services {
		if sv.ClusterIP.IsValid() {
			clusterIPs[sv.ClusterIP.String()] = owner{sv.Namespace, sv.Name}
		}
		for _, p := range sv.Ports {
			if p.NodePort != 0 {
				nodePorts[p.NodePort] = owner{sv.Namespace, sv.Name}
			}
		}
	}
	pods := map[owner]PodTemplate{}
	for _, p := range c.Store.Pods {
		pods[owner{p.Namespace, p.Name}] = p.Template
	}
	selectors := map[owner]map[string]string{}
	for _, d := range c.Store.Deployments {
		selectors[owner{d.Namespace, d.Name}] = d.Selector
	}
	for i := range objs {
		o := &objs[i]
		bad := func(path, reason string, a ...any) error {
			_, name := o.Meta()
			return &ManifestError{Doc: o.Doc, Object: o.Kind() + " " + name, Path: path, Reason: fmt.Sprintf(reason, a...)}
		}
		switch {
		case o.Pod != nil:
			p := o.Pod
			t, _, err := template(o.Doc, "Pod "+p.Name, "spec", p.Labels, p.Spec)
			if err != nil {
				return nil, err
			}
			me := owner{p.Namespace, p.Name}
			if old, ok := pods[me]; ok && TemplateHash(old) != TemplateHash(t) {
				if !sameContainers(old, t) {
					return nil, bad("spec", "Forbidden: pod updates may not change fields other than the image (netlab: delete the pod and apply it again)")
				}
				// Labels may change, as the API server lets them: not
				// those of a Deployment's pod, whose labels are its
				// ReplicaSet's to keep.
				if i := c.findPod(p.Namespace, p.Name); i >= 0 && c.Store.Pods[i].Owner != "" {
					return nil, bad("metadata.labels", "pod %s belongs to deployment %s: change the Deployment's template, whose rollout makes its pods", p.Name, strings.TrimPrefix(c.Store.Pods[i].Owner, p.Namespace+"/"))
				}
			}
			pods[me] = t
		case o.Deployment != nil:
			d := o.Deployment
			me := owner{d.Namespace, d.Name}
			if old, ok := selectors[me]; ok && !equalLabels(old, d.Spec.Selector.MatchLabels) {
				return nil, bad("spec.selector", "field is immutable (delete the Deployment and apply it again)")
			}
			selectors[me] = d.Spec.Selector.MatchLabels
		case o.Service != nil:
			s := o.Service
			me := owner{s.Namespace, s.Name}
			if me == (owner{"default", "kubernetes"}) {
				return nil, bad("metadata.name", "default/kubernetes is the API server's own Service, which it keeps: name yours otherwise")
			}
			var mine netip.Addr
			var old *Service
			if i := c.findService(s.Namespace, s.Name); i >= 0 {
				old = &c.Store.Services[i]
				mine = old.ClusterIP
			}
			if want := s.Spec.ClusterIP; mine.IsValid() && want != "" && want != mine.String() {
				return nil, bad("spec.clusterIP", "field is immutable (it is %s)", mine)
			}
			if _, ferr := settleFamilies(s.Spec, old, c.dual()); ferr != nil {
				return nil, bad(ferr.Path, "%s", ferr.Reason)
			}
			wants := s.Spec.ClusterIPs
			if len(wants) == 0 && s.Spec.ClusterIP != "" {
				wants = []string{s.Spec.ClusterIP}
			}
			for j, want := range wants {
				if want == corev1.ClusterIPNone {
					continue
				}
				if other, ok := clusterIPs[want]; ok && other != me {
					path := fmt.Sprintf("spec.clusterIPs[%d]", j)
					if len(s.Spec.ClusterIPs) == 0 {
						path = "spec.clusterIP"
					}
					return nil, bad(path, "%s is already allocated to %s/%s", want, other.ns, other.name)
				}
				clusterIPs[want] = me
			}
			for j, p := range s.Spec.Ports {
				if p.NodePort == 0 {
					continue
				}
				if other, ok := nodePorts[int(p.NodePort)]; ok && other != me {
					return nil, bad(fmt.Sprintf("spec.ports[%d].nodePort", j), "%d: provided port is already allocated (to %s/%s)", p.NodePort, other.ns, other.name)
				}
				nodePorts[int(p.NodePort)] = me
			}
			if len(s.Spec.Selector) > 0 && !c.selects(s.Namespace, s.Spec.Selector, objs) {
				o.Warnings = append(o.Warnings, "spec.selector: matches no pod (yet): the Service has no endpoints")
			}
		}
	}
	// Room in the kernel's neighbour table for the pods to come.
	if !c.Dry() {
		if err := lab.CheckNeigh(c.newPods(objs)); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// newPods counts the pods objs would add to the cluster.
func (c *Cluster) newPods(objs []Object) int {
	more := 0
	for _, o := range objs {
		switch {
		case o.Pod != nil && c.findPod(o.Pod.Namespace, o.Pod.Name) < 0:
			more++
		case o.Deployment != nil:
			want := 1
			if r := o.Deployment.Spec.Replicas; r != nil {
				want = int(*r)
			}
			have := 0
			if i := c.findDeployment(o.Deployment.Namespace, o.Deployment.Name); i >= 0 {
				have = len(c.owned(&c.Store.Deployments[i], true))
			}
			more += max(want-have, 0)
		}
	}
	return more
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
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
		case o.Namespace != nil:
			what, err = c.applyNamespace(o.Namespace)
		case o.NetworkPolicy != nil:
			what, err = c.applyPolicy(o.NetworkPolicy)
		}
		if err != nil {
			_ = c.save()
			return said, err
		}
		said = append(said, what)
	}
	if err := c.ensureKubernetes(); err != nil {
		return said, err
	}
	if err := c.ensureDNS(ctx); err != nil {
		return said, err
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
	var old *Service
	if i >= 0 {
		old = &c.Store.Services[i]
	}
	fams, ferr := settleFamilies(s.Spec, old, c.dual())
	if ferr != nil {
		return "", &ManifestError{Doc: "Service " + sv.Name, Path: ferr.Path, Reason: ferr.Reason}
	}
	sv.Families, sv.Policy = fams.Families, fams.Policy
	if len(fams.Families) == 1 && fams.Families[0] == IPv4 && fams.Policy == string(corev1.IPFamilyPolicySingleStack) {
		sv.Families, sv.Policy = nil, "" // as a store of before dual-stack
	}
	for j, ip := range fams.IPs {
		if !ip.IsValid() {
			var err error
			if ip, err = c.freeClusterIP(fams.Families[j]); err != nil {
				return "", err
			}
		}
		if j == 0 {
			sv.ClusterIP = ip
		} else {
			sv.ClusterIP2 = ip
		}
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

// freeClusterIP picks an unused address of family fam's service range,
// from the 11th on (.1 is the API server's by custom, .10 the cluster
// DNS's; the IPv6 range keeps the same numbers free).
func (c *Cluster) freeClusterIP(fam string) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, s := range c.Store.Services {
		used[s.ClusterIP], used[s.ClusterIP2] = true, true
	}
	r := ServiceCIDR
	if fam == IPv6 {
		r = ServiceCIDR6
	}
	for n := uint64(11); n < 1<<20; n++ {
		a, err := ipam.Nth(r, n)
		if err != nil {
			break
		}
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("the service range %s is full", r)
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
	for i, old := range c.Store.Pods {
		if old.Namespace == p.Namespace && old.Name == p.Name {
			if TemplateHash(old.Template) == TemplateHash(t) {
				return "pod/" + p.Name + " unchanged", nil
			}
			if !sameContainers(old.Template, t) || old.Owner != "" {
				return "", &ManifestError{Doc: "Pod " + p.Name, Path: "spec", Reason: "a pod's containers cannot change: delete it and apply it again"}
			}
			// Its labels alone: the Services that select it and the
			// policies follow with the sync.
			c.Store.Pods[i].Template.Labels = t.Labels
			return "pod/" + p.Name + " configured", nil
		}
	}
	if err := c.startPod(ctx, Pod{Namespace: p.Namespace, Name: p.Name, Template: t}); err != nil {
		return "", err
	}
	return "pod/" + p.Name + " created", nil
}

// sameContainers reports whether two templates differ in their labels
// at most.
func sameContainers(a, b PodTemplate) bool {
	a.Labels, b.Labels = nil, nil
	return TemplateHash(a) == TemplateHash(b)
}

func (c *Cluster) findDeployment(ns, name string) int {
	for i, d := range c.Store.Deployments {
		if d.Namespace == ns && d.Name == name {
			return i
		}
	}
	return -1
}

// inNamespace are the objects in namespace ns, as refs to delete.
func (c *Cluster) inNamespace(ns string) []Ref {
	var out []Ref
	for _, s := range c.Store.Services {
		if s.Namespace == ns && s.System == "" {
			out = append(out, Ref{"service", ns, s.Name})
		}
	}
	for _, d := range c.Store.Deployments {
		if d.Namespace == ns {
			out = append(out, Ref{"deployment", ns, d.Name})
		}
	}
	for _, p := range c.Store.Pods {
		if p.Namespace == ns && p.Owner == "" {
			out = append(out, Ref{"pod", ns, p.Name})
		}
	}
	for _, p := range c.Store.Policies {
		if p.Namespace == ns {
			out = append(out, Ref{"networkpolicy", ns, p.Name})
		}
	}
	return out
}

func (c *Cluster) findPod(ns, name string) int {
	for i, p := range c.Store.Pods {
		if p.Namespace == ns && p.Name == name {
			return i
		}
	}
	return -1
}

// Ref names an object to delete: kind service, deployment, pod,
// networkpolicy or namespace (everything in it goes with it).
type Ref struct{ Kind, Namespace, Name string }

// Delete removes objects and what they made, all or none: an object that
// is not there refuses them all, with nothing changed. However many go,
// the rules are written once and every pod goes in one pass, so deleting
// a thousand objects costs about what applying them does.
func (c *Cluster) Delete(ctx context.Context, refs ...Ref) ([]string, error) {
	type key struct{ kind, ns, name string }
	seen, quiet := map[key]bool{}, map[key]bool{}
	var missing []string
	var todo []Ref
	for _, r := range refs {
		k := key{r.Kind, r.Namespace, r.Name}
		if seen[k] {
			continue
		}
		seen[k] = true
		var found bool
		switch r.Kind {
		case "service":
			i := c.findService(r.Namespace, r.Name)
			found = i >= 0
			if found && c.Store.Services[i].System != "" {
				return nil, invalidf("service %q is the API server's own, which it keeps as long as the cluster (nothing deleted)", r.Name)
			}
		case "deployment":
			found = c.findDeployment(r.Namespace, r.Name) >= 0
		case "pod":
			found = c.findPod(r.Namespace, r.Name) >= 0
		case "networkpolicy":
			found = c.findPolicy(r.Namespace, r.Name) >= 0
		case "namespace":
			if slices.Contains(systemNamespaces, r.Name) {
				return nil, invalidf("namespaces %q is forbidden: this namespace may not be deleted (nothing deleted)", r.Name)
			}
			_, found = c.Store.NamespaceLabels()[r.Name]
		default:
			return nil, invalidf("kind %q: service, deployment, pod, networkpolicy or namespace", r.Kind)
		}
		if !found {
			missing = append(missing, fmt.Sprintf("%s %q", map[string]string{"service": "services", "deployment": "deployments.apps", "pod": "pods",
				"networkpolicy": "networkpolicies.networking.k8s.io", "namespace": "namespaces"}[r.Kind], r.Name))
		}
		todo = append(todo, r)
		if r.Kind == "namespace" && found {
			// Everything in it goes first, as the namespace controller
			// deletes it.
			for _, in := range c.inNamespace(r.Name) {
				k := key{in.Kind, in.Namespace, in.Name}
				if !seen[k] {
					seen[k] = true
					quiet[k] = true // kubectl says the namespace alone
					todo = append(todo, in)
				}
			}
		}
	}
	if len(missing) > 0 {
		return nil, invalidf("%s not found (nothing deleted)", strings.Join(missing, ", "))
	}
	var said []string
	var going []Pod
	goingPod := map[string]bool{}
	owners := map[string]bool{} // Deployments that lose a pod but stay
	for _, r := range todo {
		n := len(said)
		switch r.Kind {
		case "service":
			i := c.findService(r.Namespace, r.Name)
			c.Store.Services = slices.Delete(c.Store.Services, i, i+1)
			said = append(said, fmt.Sprintf("service %q deleted", r.Name))
		case "deployment":
			i := c.findDeployment(r.Namespace, r.Name)
			c.Store.Deployments = slices.Delete(c.Store.Deployments, i, i+1)
			for _, p := range c.Store.Pods {
				if p.Owner == r.Namespace+"/"+r.Name && !goingPod[p.Namespace+"/"+p.Name] {
					going = append(going, p)
					goingPod[p.Namespace+"/"+p.Name] = true
				}
			}
			said = append(said, fmt.Sprintf("deployment.apps %q deleted", r.Name))
		case "pod":
			p := c.Store.Pods[c.findPod(r.Namespace, r.Name)]
			if !goingPod[p.Namespace+"/"+p.Name] {
				going = append(going, p)
				goingPod[p.Namespace+"/"+p.Name] = true
			}
			if p.Owner != "" {
				owners[p.Owner] = true
			}
			said = append(said, fmt.Sprintf("pod %q deleted", r.Name))
		case "networkpolicy":
			i := c.findPolicy(r.Namespace, r.Name)
			c.Store.Policies = slices.Delete(c.Store.Policies, i, i+1)
			said = append(said, fmt.Sprintf("networkpolicy.networking.k8s.io %q deleted", r.Name))
		case "namespace":
			if i := c.findNamespace(r.Name); i >= 0 {
				c.Store.Namespaces = slices.Delete(c.Store.Namespaces, i, i+1)
			}
			said = append(said, fmt.Sprintf("namespace %q deleted", r.Name))
		}
		if quiet[key{r.Kind, r.Namespace, r.Name}] {
			said = said[:n]
		}
	}
	if err := c.removePods(ctx, going...); err != nil {
		return said, err
	}
	// A Deployment's pod comes back, as its ReplicaSet makes up the count.
	for _, d := range slices.Clone(c.Store.Deployments) {
		if owners[d.Namespace+"/"+d.Name] && !d.Paused {
			if err := c.Rollout(ctx, d.Namespace, d.Name); err != nil {
				return said, err
			}
		}
	}
	if err := c.Sync(ctx); err != nil {
		return said, err
	}
	return said, c.save()
}
