package kube

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

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
	// Dry plans without doing: the runner prints the commands, no server
	// starts, new pods count as Ready, and nothing is saved.
	Dry bool
	// Log, if set, gets what a command waits for.
	Log io.Writer
}

// Open reads lab s's Kubernetes objects; a lab not of the Kubernetes
// model has none to hold.
func Open(s *state.State, exe string, r *netops.Runner) (*Cluster, error) {
	if s.Mode != "overlay" {
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
	if c.Dry {
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
	clusterIPs := map[string]owner{}
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
				return nil, bad("spec", "Forbidden: pod updates may not change fields other than the image (netlab: delete the pod and apply it again)")
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
			var mine netip.Addr
			if i := c.findService(s.Namespace, s.Name); i >= 0 {
				mine = c.Store.Services[i].ClusterIP
			}
			switch want := s.Spec.ClusterIP; {
			case mine.IsValid() && want != "" && want != mine.String():
				return nil, bad("spec.clusterIP", "field is immutable (it is %s)", mine)
			case want != "" && want != corev1.ClusterIPNone:
				if other, ok := clusterIPs[want]; ok && other != me {
					return nil, bad("spec.clusterIP", "%s is already allocated to %s/%s", want, other.ns, other.name)
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
	if !c.Dry {
		if err := lab.CheckNeigh(more); err != nil {
			return nil, err
		}
	}
	return objs, nil
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
		}
		if err != nil {
			_ = c.save()
			return said, err
		}
		said = append(said, what)
	}
	if err := c.ensureDNS(ctx); err != nil {
		return said, err
	}
	if err := c.Sync(ctx); err != nil {
		return said, err
	}
	return said, c.save()
}

// resolvConf points a pod's resolver at the cluster DNS.
func (c *Cluster) resolvConf(ns netops.NS, namespace string) netops.Op {
	return netops.ResolvConf{NS: ns, Marker: names.RuleMarker(c.S.Lab), Lines: ResolvLines(namespace)}
}

// ensureDNS gives the cluster its DNS once: the Service kube-system/kube-dns
// at 10.96.0.10 over a pod of its own that runs netlab's DNS server, and
// every pod (overlay-mode's too) a resolv.conf that points at it, as the
// kubelet writes one.
func (c *Cluster) ensureDNS(ctx context.Context) error {
	if c.findService("kube-system", "kube-dns") >= 0 {
		return nil
	}
	labels := map[string]string{"k8s-app": "kube-dns"}
	c.Store.Services = append(c.Store.Services, Service{Namespace: "kube-system", Name: "kube-dns", Selector: labels, Type: "ClusterIP",
		ClusterIP: DNSIP, Created: time.Now().UTC(), Ports: []Port{
			{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: 53},
			{Name: "dns-tcp", Protocol: "TCP", Port: 53, TargetPort: 53},
		}})
	dep := Deployment{Name: "coredns", Hash: "netlab"}
	p := Pod{Namespace: "kube-system", Name: c.podName(dep), System: "dns",
		Template: PodTemplate{Labels: labels, Containers: []Container{{Name: "coredns", Ports: []ContainerPort{{Name: "dns-tcp", Port: 53}}}}}}
	if err := c.startPod(ctx, p); err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
	}
	var ops []netops.Op
	for _, w := range c.S.Workloads {
		if w.Kind == "pod" {
			ops = append(ops, c.resolvConf(w.NS, "default"))
		}
	}
	for _, p := range c.Store.Pods {
		if p.System == "" && c.local(p.Node) {
			ops = append(ops, c.resolvConf(p.NS, p.Namespace))
		}
	}
	return c.R.Run(ctx, ops)
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

// strategy reads a Deployment's rollout settings as the API server
// defaults and validates them: maxSurge 25% rounded up, maxUnavailable 25%
// rounded down, not both zero.
func strategy(d *appsv1.Deployment, replicas int) (Deployment, error) {
	out := Deployment{Strategy: "RollingUpdate", ProgressDeadline: 600, MinReadySeconds: int(d.Spec.MinReadySeconds), Paused: d.Spec.Paused}
	if d.Spec.ProgressDeadlineSeconds != nil {
		out.ProgressDeadline = int(*d.Spec.ProgressDeadlineSeconds)
	}
	if out.ProgressDeadline < 1 || out.MinReadySeconds < 0 || out.MinReadySeconds >= out.ProgressDeadline {
		return out, fmt.Errorf("spec.progressDeadlineSeconds: must be more than minReadySeconds, and at least 1")
	}
	surge, unavailable := intstr25(), intstr25()
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		out.Strategy = "Recreate"
		if d.Spec.Strategy.RollingUpdate != nil {
			return out, fmt.Errorf("spec.strategy.rollingUpdate: may not be specified when strategy type is 'Recreate'")
		}
		return out, nil
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surge = ru.MaxSurge.String()
		}
		if ru.MaxUnavailable != nil {
			unavailable = ru.MaxUnavailable.String()
		}
	}
	if _, err := scaled(surge, replicas, true); err != nil {
		return out, fmt.Errorf("spec.strategy.rollingUpdate.maxSurge: %v", err)
	}
	if _, err := scaled(unavailable, replicas, false); err != nil {
		return out, fmt.Errorf("spec.strategy.rollingUpdate.maxUnavailable: %v", err)
	}
	if strings.TrimSuffix(surge, "%") == "0" && strings.TrimSuffix(unavailable, "%") == "0" {
		return out, fmt.Errorf("spec.strategy.rollingUpdate.maxUnavailable: may not be 0 when maxSurge is 0")
	}
	out.MaxSurge, out.MaxUnavailable = surge, unavailable
	return out, nil
}

// limits are a rollout's maxSurge and maxUnavailable in pods, for
// replicas: percentages rounded up and down; both 0 after rounding makes
// maxUnavailable 1, as the deployment controller does.
func (d Deployment) limits() (surge, unavailable int) {
	surge, _ = scaled(d.MaxSurge, d.Replicas, true)
	unavailable, _ = scaled(d.MaxUnavailable, d.Replicas, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func intstr25() string { return "25%" }

// scaled is a count or a percentage of replicas, rounded up (surge) or
// down (unavailable), as Kubernetes rounds them.
func scaled(v string, replicas int, up bool) (int, error) {
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		var n int
		if _, err := fmt.Sscan(pct, &n); err != nil || n < 0 || n > 100 {
			return 0, fmt.Errorf("%q is not a percentage from 0%% to 100%%", v)
		}
		x := n * replicas
		if up {
			return (x + 99) / 100, nil
		}
		return x / 100, nil
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count of pods or a percentage", v)
	}
	return n, nil
}

func (c *Cluster) findDeployment(ns, name string) int {
	for i, d := range c.Store.Deployments {
		if d.Namespace == ns && d.Name == name {
			return i
		}
	}
	return -1
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
	dep, err := strategy(d, replicas)
	if err != nil {
		return "", &ManifestError{Doc: "Deployment " + d.Name, Reason: err.Error()}
	}
	dep.Namespace, dep.Name, dep.Replicas, dep.Selector, dep.Created = d.Namespace, d.Name, replicas, d.Spec.Selector.MatchLabels, time.Now().UTC()
	dep.Template = t
	verb := "created"
	if i := c.findDeployment(dep.Namespace, dep.Name); i >= 0 {
		old := c.Store.Deployments[i]
		dep.Created, dep.Revisions = old.Created, old.Revisions
		verb = "configured"
		if TemplateHash(old.Template) == TemplateHash(t) && old.Replicas == replicas && old.Paused == dep.Paused {
			verb = "unchanged"
			dep.Rolling, dep.Stalled, dep.Hash, dep.Deadline = old.Rolling, old.Stalled, old.Hash, old.Deadline
		}
		c.Store.Deployments[i] = dep
		if d := &c.Store.Deployments[i]; verb == "unchanged" && !d.Rolling && len(c.owned(d, true)) == replicas && len(c.owned(d, false)) == 0 {
			return "deployment.apps/" + dep.Name + " unchanged", nil // nothing to wait for
		}
	} else {
		c.Store.Deployments = append(c.Store.Deployments, dep)
	}
	if err := c.Rollout(ctx, dep.Namespace, dep.Name); err != nil {
		return "deployment.apps/" + dep.Name + " " + verb, err
	}
	return "deployment.apps/" + dep.Name + " " + verb, nil
}

// Rollout brings a Deployment's pods to its template and count, as the
// deployment controller does: a Recreate removes the old pods first; a
// RollingUpdate keeps at most replicas+maxSurge pods and at least
// replicas-maxUnavailable available ones, adding new pods and removing
// old ones only as new ones turn Ready (and stay so for minReadySeconds).
// A rollout whose new pods do not turn Ready within its progress deadline
// stops there, stalled, with both versions serving as they are.
func (c *Cluster) Rollout(ctx context.Context, ns, name string) error {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return invalidf("deployments.apps %q not found", name)
	}
	dep := &c.Store.Deployments[i]
	hash := TemplateHash(dep.Template)
	if n := len(dep.Revisions); n == 0 || dep.Revisions[n-1].Hash != hash {
		// A template seen before keeps its ReplicaSet's pods and takes the
		// next number, as Kubernetes reuses it.
		var kept []Revision
		for _, r := range dep.Revisions {
			if r.Hash != hash {
				kept = append(kept, r)
			}
		}
		next := 1
		if n > 0 {
			next = dep.Revisions[n-1].Number + 1
		}
		dep.Revisions = append(kept, Revision{Number: next, Hash: hash, Template: dep.Template})
	}
	dep.Hash, dep.Stalled = hash, ""
	if dep.Paused {
		return c.save()
	}
	if dep.Strategy == "Recreate" {
		for _, p := range c.owned(dep, false) {
			if err := c.removePods(ctx, p); err != nil {
				return err
			}
		}
	}
	dep.Deadline = time.Now().Add(time.Duration(dep.ProgressDeadline) * time.Second).UTC()
	dep.Rolling = true
	// Recorded before the first pod: interrupted, the rollout is the
	// controller's to go on with, as the count asked is (kubectl scale
	// writes it, then the controller acts).
	if err := c.save(); err != nil {
		return err
	}
	told := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := c.step(ctx, dep)
		if err != nil || st.done {
			return err
		}
		if st.waiting > 0 && sumCounts(st.remote) == st.waiting && !c.Dry {
			// Only another machine's new pods hold the rollout: this
			// machine's controller goes on with it as they turn Ready (as
			// Kubernetes' controller does; kubectl returns at once too).
			if c.Log != nil {
				for _, n := range c.S.Topology.Nodes {
					if k := st.remote[n.Name]; k > 0 {
						fmt.Fprintf(c.Log, "The rollout of deployment %s waits for %d new pod(s) on %s, which that machine builds when the same command runs there (netlab has no control plane); it goes on by itself then (netlab rollout status deployment/%s).\n",
							dep.Name, k, n.Name, dep.Name)
					}
				}
			}
			return c.save()
		}
		if !told && c.Log != nil && len(st.remote) > 0 {
			for _, n := range c.S.Topology.Nodes {
				if k := st.remote[n.Name]; k > 0 {
					fmt.Fprintf(c.Log, "Waiting for %d pod(s) of deployment %s on %s: that machine builds them when the same command runs there (netlab has no control plane).\n", k, dep.Name, n.Name)
				}
			}
			told = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// owned are a Deployment's pods of its current template (current) or of
// the others.
func (c *Cluster) owned(dep *Deployment, current bool) []Pod {
	owner := dep.Namespace + "/" + dep.Name
	var out []Pod
	for _, p := range c.Store.Pods {
		if p.Owner == owner && (p.Template.Labels["pod-template-hash"] == dep.Hash) == current {
			out = append(out, p)
		}
	}
	return out
}

// stepState is where one step of a rollout left it.
type stepState struct {
	done bool
	// waiting new pods not available yet, and how many of them are on
	// each other machine.
	waiting int
	remote  map[string]int
}

// step takes a rollout as far as it goes without waiting: surplus new pods
// go; new pods come, as many as maxSurge allows; once every new pod is
// available (Ready for minReadySeconds), old ones go while enough stay
// available, and again. Each step thus depends on the arithmetic only,
// never on the moment a pod turned Ready, so that the nodes of a real
// cluster, each running the rollout, take the same steps. The last step
// (no old pod left) waits only for this machine's pods: the others' join
// their Services as their own machines build them. Past the progress
// deadline, a rollout still waiting stalls, both versions serving as they
// are.
func (c *Cluster) step(ctx context.Context, dep *Deployment) (stepState, error) {
	hash := dep.Hash
	tmpl := dep.Template
	tmpl.Labels = copyLabels(dep.Template.Labels)
	tmpl.Labels["pod-template-hash"] = hash
	owner := dep.Namespace + "/" + dep.Name
	replicas := dep.Replicas
	maxSurge, maxUnavailable := dep.limits()
	for {
		olds, news := c.owned(dep, false), c.owned(dep, true)
		// Surplus new pods (scaled down) go first, the newest first.
		for len(news) > replicas {
			if err := c.removePods(ctx, news[len(news)-1]); err != nil {
				return stepState{}, err
			}
			news = news[:len(news)-1]
		}
		// Scale up: as many new pods as the surge allows.
		room := replicas + maxSurge - len(olds) - len(news)
		for k := 0; k < room && len(news)+k < replicas; k++ {
			p := Pod{Namespace: dep.Namespace, Name: c.podName(*dep), Template: tmpl, Owner: owner}
			if err := c.startPod(ctx, p); err != nil {
				return stepState{}, err
			}
		}
		news = c.owned(dep, true)
		if c.refreshReady(news) {
			if err := c.Sync(ctx); err != nil {
				return stepState{}, err
			}
		}
		st := stepState{remote: map[string]int{}}
		for _, p := range c.owned(dep, true) {
			if !p.Ready && !c.Dry {
				st.waiting++
				if !c.local(p.Node) {
					st.remote[p.Node]++
				}
			}
		}
		last := len(c.owned(dep, false)) == 0 && len(news) == replicas
		if st.waiting > 0 && last && sumCounts(st.remote) == st.waiting {
			if c.Log != nil {
				for _, n := range c.S.Topology.Nodes {
					if k := st.remote[n.Name]; k > 0 {
						fmt.Fprintf(c.Log, "%d pod(s) of deployment %s are %s's: they come up when the same command runs there (netlab has no control plane), and join their Services as they turn Ready.\n", k, dep.Name, n.Name)
					}
				}
			}
			st.waiting, st.remote = 0, map[string]int{}
		}
		if st.waiting > 0 {
			if time.Now().After(dep.Deadline) {
				dep.Stalled = fmt.Sprintf("deployment %q exceeded its progress deadline: %d of %d new pods are ready", dep.Name, len(news)-st.waiting, replicas)
				dep.Rolling = false
				_ = c.save()
				return st, errors.New(dep.Stalled)
			}
			return st, c.save()
		}
		olds = c.owned(dep, false)
		c.refreshReady(olds)
		olds = c.owned(dep, false)
		if len(olds) == 0 && len(news) == replicas {
			dep.Rolling = false
			if err := c.Sync(ctx); err != nil {
				return st, err
			}
			st.done = true
			return st, c.save()
		}
		// Scale down: old pods go while enough stay available; unready
		// ones first, as they serve nobody.
		sort.SliceStable(olds, func(a, b int) bool { return !olds[a].Ready && olds[b].Ready })
		readyNew, readyOld := len(news), countReady(olds)
		minAvailable := replicas - maxUnavailable
		var going []Pod
		for _, p := range olds {
			if p.Ready && readyNew+readyOld-1 < minAvailable {
				break
			}
			going = append(going, p)
			if p.Ready {
				readyOld--
			}
		}
		if len(going) > 0 {
			if err := c.removePods(ctx, going...); err != nil {
				return st, err
			}
		}
		if err := c.Sync(ctx); err != nil {
			return st, err
		}
		if err := c.save(); err != nil {
			return st, err
		}
		if len(going) == 0 && room <= 0 {
			// Not reached by the arithmetic (maxSurge+maxUnavailable ≥ 1
			// always frees a place); a guard against spinning.
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// Continue goes on with the rollouts that wait for another machine's pods,
// as far as each goes now: what the lab's controller does every period.
func (c *Cluster) Continue(ctx context.Context) error {
	for i := range c.Store.Deployments {
		dep := &c.Store.Deployments[i]
		if !dep.Rolling || dep.Paused || dep.Stalled != "" {
			continue
		}
		if _, err := c.step(ctx, dep); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) findPod(ns, name string) int {
	for i, p := range c.Store.Pods {
		if p.Namespace == ns && p.Name == name {
			return i
		}
	}
	return -1
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func countReady(ps []Pod) int {
	n := 0
	for _, p := range ps {
		if p.Ready {
			n++
		}
	}
	return n
}

// refreshReady probes pods as the kubelet would, side by side, and
// records whether each is Ready (and has been for its Deployment's
// minReadySeconds). It reports whether any pod changed.
func (c *Cluster) refreshReady(ps []Pod) bool {
	if c.Dry {
		return false // what a dry run planned stays as planned
	}
	return c.record(c.ProbeAll(ps))
}

// Readiness is what probes found: Ready or not, per pod ("ns/name"), and
// when the pod was made (a pod made again since is another pod).
type Readiness map[string]probed

type probed struct {
	ready   bool
	created time.Time
}

// ProbeAll probes pods side by side. It only reads: the lab's controller
// probes without holding the lab's lock (a pod that does not answer costs
// a second), then records what it found under the lock.
func (c *Cluster) ProbeAll(ps []Pod) Readiness {
	ready := make([]bool, len(ps))
	var wg sync.WaitGroup
	slots := make(chan struct{}, 32)
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			ready[i] = c.probe(p)
		}()
	}
	wg.Wait()
	out := Readiness{}
	for i, p := range ps {
		out[p.Namespace+"/"+p.Name] = probed{ready: ready[i], created: p.Created}
	}
	return out
}

// record sets what probes found on the pods still here (and not made
// again since), as Ready only once Ready for their Deployment's
// minReadySeconds, and reports whether any changed.
func (c *Cluster) record(r Readiness) bool {
	changed := false
	for k := range c.Store.Pods {
		p := &c.Store.Pods[k]
		got, ok := r[p.Namespace+"/"+p.Name]
		if !ok || !got.created.Equal(p.Created) {
			continue
		}
		ready := got.ready
		if d := c.findDeployment(ownerOf(*p)); ready && d >= 0 {
			if min := c.Store.Deployments[d].MinReadySeconds; min > 0 && time.Since(p.Created) < time.Duration(min)*time.Second {
				ready = false
			}
		}
		changed = changed || p.Ready != ready
		p.Ready = ready
	}
	return changed
}

// ownerOf is the namespace and name of a pod's Deployment ("", "" for none).
func ownerOf(p Pod) (string, string) {
	ns, name, _ := strings.Cut(p.Owner, "/")
	return ns, name
}

// probe runs a pod's readiness probes from its node, as the kubelet
// does: Ready when every container's probe passes (its server listening,
// when it has none), and not before a probe's initial delay.
func (c *Cluster) probe(p Pod) bool {
	// A pod of another machine is probed from this one, over the overlay.
	node := c.S.Topology.LocalNodes()[0]
	for _, n := range c.S.Topology.LocalNodes() {
		if n.Name == p.Node {
			node = n
		}
	}
	for _, ct := range p.Template.Containers {
		pr := ct.Readiness
		if pr == nil {
			pr = &Probe{TCP: true, Port: ct.ServePort()}
		}
		if time.Since(p.Created) < time.Duration(pr.InitialDelay)*time.Second {
			return false
		}
		if !probeOnce(node.NS, netip.AddrPortFrom(p.IP, uint16(pr.Port)), pr) {
			return false
		}
	}
	return true
}

// maxProbeResponse is the most of an answer a probe reads: the status
// line and headers must fit in it (the kubelet reads 10 KiB of a body
// and stops there too). A pod answering with endless headers costs the
// prober this much, no more.
const maxProbeResponse = 10 << 10

// probeOnce connects from ns to addr (and, for httpGet, asks for the
// path): a 2xx or 3xx answer passes, within the probe's timeout for the
// whole exchange.
func probeOnce(ns netops.NS, addr netip.AddrPort, pr *Probe) bool {
	timeout := time.Duration(max(pr.Timeout, 1)) * time.Second
	deadline := time.Now().Add(timeout)
	var conn net.Conn
	err := netops.Do(ns, func() error {
		var err error
		conn, err = net.DialTimeout("tcp4", addr.String(), timeout)
		return err
	})
	if err != nil {
		return false
	}
	defer conn.Close()
	if pr.TCP {
		return true
	}
	_ = conn.SetDeadline(deadline)
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: kube-probe\r\n\r\n", pr.Path, addr); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(conn, maxProbeResponse)), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

func copyLabels(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// podName names a Deployment's pod as Kubernetes does: the Deployment's
// name, its template's hash, and five characters of Kubernetes' alphabet.
// Kubernetes draws them at random; netlab derives them from the pods made
// so far, so that the nodes of a real cluster, with no control plane,
// name every pod alike.
func (c *Cluster) podName(d Deployment) string {
	for {
		c.Store.Seq++
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%s/%d", d.Namespace, d.Name, d.Hash, c.Store.Seq)))
		b := make([]byte, 5)
		for i := range b {
			b[i] = "bcdfghjklmnpqrstvwxz2456789"[int(sum[i])%27]
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

// node picks where a new pod goes: the node with the fewest pods, the
// first of them in the topology's order; on a real node, another machine
// may be picked, and builds the pod itself.
func (c *Cluster) node() topo.Node {
	nodes := c.S.Topology.Nodes
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

// local reports whether node name is built here (on a real node: this
// machine).
func (c *Cluster) local(name string) bool { return c.S.Topology.IsLocal(name) }

// peers are the workloads overlay-mode built on the other machines of a
// real cluster: their addresses are taken there.
func (c *Cluster) peers() []state.Workload {
	if c.S.Topology.Embedded {
		return nil
	}
	m, ok := lab.ModeNamed(c.S.Mode)
	if !ok {
		return nil
	}
	return m.Plan(c.S.Topology).Peers
}

// freeIP is an unused address of a node's pod CIDR: the first after the
// last one given out, round the range, as host-local IPAM does.
func (c *Cluster) freeIP(n topo.Node) (netip.Addr, error) {
	used := map[netip.Addr]bool{n.Gateway(): true}
	for _, w := range c.S.Workloads {
		used[w.IP] = true
	}
	for _, w := range c.peers() {
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
	if !c.local(n.Name) {
		// Another machine builds it, from the same commands: here it is
		// only known, as a pod of another node is to kube-proxy.
		p.NS, p.HostIface, p.Ready = "", "", c.Dry
		c.Store.Pods = append(c.Store.Pods, p)
		if c.Dry {
			fmt.Fprintf(c.R.Out, "# %s builds pod %s (%s) itself\n", n.Name, p.Name, ip)
		}
		return nil
	}
	// The runtime's spec is made before anything changes: a field it
	// cannot carry refuses the pod with the kernel untouched.
	var spec string
	if p.System == "" {
		if spec, err = serverSpec(p, n.Name); err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
	}
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
	if c.findService("kube-system", "kube-dns") >= 0 && p.System == "" {
		ops = append(ops, c.resolvConf(p.NS, p.Namespace))
	}
	if err := c.R.Run(ctx, ops); err != nil {
		return fmt.Errorf("pod %s: %w", p.Name, err)
	}
	if c.Dry {
		p.Ready = true
		c.Store.Pods = append(c.Store.Pods, p)
		fmt.Fprintf(c.R.Out, "# then netlab starts %s's servers in %s\n", p.Name, p.NS)
		return nil
	}
	if p.System == "dns" {
		c.Store.Pods = append(c.Store.Pods, p)
		if err := startDNS(c.Exe, c.S.Lab, n, p.NS); err != nil {
			return fmt.Errorf("pod %s: start the DNS server: %w", p.Name, err)
		}
		c.Store.Pods[len(c.Store.Pods)-1].Ready = c.probe(p)
		return nil
	}
	c.Store.Pods = append(c.Store.Pods, p) // recorded first: a failed start is removed by down
	if err := lab.StartSpec(c.Exe, c.S.Lab, n.Host, spec, "pods.log"); err != nil {
		return fmt.Errorf("pod %s: start its servers: %w", p.Name, err)
	}
	// Ready as its probes say (its server listens, when it has none).
	c.Store.Pods[len(c.Store.Pods)-1].Ready = c.probe(p)
	return nil
}

// removePods takes pods out of their Services first (the rules of every
// node, as endpoints of a terminating pod are), then, once that is in,
// ends them: no new connection goes to a pod that is going. However many
// pods go, the rules are written once and /proc is read once.
func (c *Cluster) removePods(ctx context.Context, ps ...Pod) error {
	if len(ps) == 0 {
		return nil
	}
	gone := map[string]bool{}
	for _, p := range ps {
		gone[p.Namespace+"/"+p.Name] = true
	}
	var keep []Pod
	for _, p := range c.Store.Pods {
		if !gone[p.Namespace+"/"+p.Name] {
			keep = append(keep, p)
		}
	}
	c.Store.Pods = keep
	if err := c.Sync(ctx); err != nil {
		return err
	}
	// What was already on its way to them lands before they go, as a
	// terminating pod's grace period lets it.
	if !c.Dry {
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.stopPods(ctx, ps); err != nil {
		return err
	}
	return c.save()
}

// startDNS starts netlab's DNS server in a pod's namespace, detached, and
// waits until it listens.
func startDNS(exe, labName string, n topo.Node, ns netops.NS) error {
	return lab.StartProcess(labName, ns, exe, []string{names.DNSName, "--lab", labName, "--host", n.Name}, "", "dns.log")
}

// stopPods ends pods' processes and removes their namespaces (their veth
// pairs with them); another machine's pods are its own to end.
func (c *Cluster) stopPods(ctx context.Context, ps []Pod) error {
	var nss []netops.NS
	for _, p := range ps {
		if !c.local(p.Node) || p.NS == "" {
			continue
		}
		if c.Dry {
			fmt.Fprintf(c.R.Out, "# netlab ends %s's processes\n", p.Name)
			if err := c.R.Run(ctx, []netops.Op{netops.NetnsDel{Name: string(p.NS)}}); err != nil {
				return err
			}
			continue
		}
		nss = append(nss, p.NS)
	}
	if len(nss) == 0 {
		return nil
	}
	return c.endNamespaces(ctx, nss)
}

// Ref names an object to delete: kind service, deployment or pod.
type Ref struct{ Kind, Namespace, Name string }

// Delete removes objects and what they made, all or none: an object that
// is not there refuses them all, with nothing changed. However many go,
// the rules are written once and every pod goes in one pass, so deleting
// a thousand objects costs about what applying them does.
func (c *Cluster) Delete(ctx context.Context, refs ...Ref) ([]string, error) {
	type key struct{ kind, ns, name string }
	seen := map[key]bool{}
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
			found = c.findService(r.Namespace, r.Name) >= 0
		case "deployment":
			found = c.findDeployment(r.Namespace, r.Name) >= 0
		case "pod":
			found = c.findPod(r.Namespace, r.Name) >= 0
		default:
			return nil, invalidf("kind %q: service, deployment or pod", r.Kind)
		}
		if !found {
			missing = append(missing, fmt.Sprintf("%s %q", map[string]string{"service": "services", "deployment": "deployments.apps", "pod": "pods"}[r.Kind], r.Name))
		}
		todo = append(todo, r)
	}
	if len(missing) > 0 {
		return nil, invalidf("%s not found (nothing deleted)", strings.Join(missing, ", "))
	}
	var said []string
	var going []Pod
	goingPod := map[string]bool{}
	owners := map[string]bool{} // Deployments that lose a pod but stay
	for _, r := range todo {
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

// Refresh probes every pod again, as the kubelet keeps doing, and when
// one turned Ready or unready, updates every node's rules.
func (c *Cluster) Refresh(ctx context.Context) error {
	if c.Dry {
		return nil
	}
	return c.Record(ctx, c.ProbeAll(c.Store.Pods))
}

// Record sets what probes found (ProbeAll), and when a pod turned Ready or
// unready, updates every node's rules.
func (c *Cluster) Record(ctx context.Context, r Readiness) error {
	if !c.record(r) {
		return nil
	}
	if err := c.Sync(ctx); err != nil {
		return err
	}
	return c.save()
}

// Reprobe updates every pod's readiness from its probes now, in memory
// only: what get shows.
func (c *Cluster) Reprobe() { c.refreshReady(c.Store.Pods) }

// Undo rolls a Deployment back to a revision (the one before the current
// one when to is 0), as kubectl rollout undo does.
func (c *Cluster) Undo(ctx context.Context, ns, name string, to int) (string, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", invalidf("deployments.apps %q not found", name)
	}
	revs := c.Store.Deployments[i].Revisions
	var target *Revision
	for k := range revs {
		if (to == 0 && k == len(revs)-2) || (to != 0 && revs[k].Number == to) {
			target = &revs[k]
		}
	}
	if target == nil {
		if to == 0 {
			return "", invalidf("no rollout history found for deployment %q", name)
		}
		return "", invalidf("unable to find specified revision %d in history", to)
	}
	c.Store.Deployments[i].Template = target.Template
	return "deployment.apps/" + name + " rolled back", c.Rollout(ctx, ns, name)
}

// History is a Deployment's revisions, oldest first.
func (c *Cluster) History(ns, name string) ([]Revision, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return nil, invalidf("deployments.apps %q not found", name)
	}
	return c.Store.Deployments[i].Revisions, nil
}

// Scale sets a Deployment's replicas.
func (c *Cluster) Scale(ctx context.Context, ns, name string, n int) (string, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", invalidf("deployments.apps %q not found", name)
	}
	if n < 0 || n > 256 {
		return "", invalidf("--replicas %d: from 0 to 256 in this lab", n)
	}
	d := &c.Store.Deployments[i]
	if d.Replicas == n && len(c.owned(d, true)) == n && len(c.owned(d, false)) == 0 {
		// Nothing to roll out: kubectl scale to the same count returns
		// at once, and so does this (a pod that is not Ready yet is the
		// kubelet's to mend, not a reason to wait out the deadline).
		return "deployment.apps/" + name + " scaled", nil
	}
	if more := n - len(c.owned(d, true)); more > 0 && !c.Dry {
		if err := lab.CheckNeigh(more); err != nil {
			return "", err
		}
	}
	d.Replicas = n
	return "deployment.apps/" + name + " scaled", c.Rollout(ctx, ns, name)
}

// SetImage changes a container's image, which rolls the Deployment out.
func (c *Cluster) SetImage(ctx context.Context, ns, name, container, img string) (string, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", invalidf("deployments.apps %q not found", name)
	}
	m := image.FindStringSubmatch(img)
	if m == nil {
		return "", invalidf("%q: netlab runs netlab/web:TAG", img)
	}
	t := c.Store.Deployments[i].Template
	t.Containers = append([]Container{}, t.Containers...)
	found := false
	for k := range t.Containers {
		if t.Containers[k].Name == container {
			t.Containers[k].Tag, found = m[1], true
		}
	}
	if !found {
		return "", invalidf("unable to find container named %q", container)
	}
	c.Store.Deployments[i].Template = t
	return "deployment.apps/" + name + " image updated", c.Rollout(ctx, ns, name)
}

// Pause and Resume stop and restart a Deployment's rollouts.
func (c *Cluster) Pause(ctx context.Context, ns, name string, paused bool) (string, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", invalidf("deployments.apps %q not found", name)
	}
	c.Store.Deployments[i].Paused = paused
	if paused {
		return "deployment.apps/" + name + " paused", c.save()
	}
	return "deployment.apps/" + name + " resumed", c.Rollout(ctx, ns, name)
}

// Status says where a Deployment's rollout is, as kubectl rollout status
// does, and whether it is complete.
func (c *Cluster) Status(ns, name string) (string, bool, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", false, invalidf("deployments.apps %q not found", name)
	}
	d := c.Store.Deployments[i]
	owner := ns + "/" + name
	updated, ready, total := 0, 0, 0
	for _, p := range c.Store.Pods {
		if p.Owner != owner {
			continue
		}
		total++
		if p.Template.Labels["pod-template-hash"] == d.Hash {
			updated++
			if p.Ready {
				ready++
			}
		}
	}
	switch {
	case d.Paused:
		return fmt.Sprintf("deployment %q is paused: %d of %d updated replicas are available", name, ready, d.Replicas), false, nil
	case d.Stalled != "":
		return d.Stalled, false, nil
	case updated < d.Replicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", name, updated, d.Replicas), false, nil
	case total > updated:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", name, total-updated), false, nil
	case ready < d.Replicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", name, ready, d.Replicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", name), true, nil
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
	udp, flush := c.staleUDP()
	if err := c.R.Run(ctx, flush); err != nil {
		return fmt.Errorf("clear conntrack for UDP Services: %w", err)
	}
	c.Store.UDP = udp
	return nil
}

// staleUDP finds, as kube-proxy does after a sync, the conntrack entries
// of UDP Services that the new rules would not reach: a Service that had
// no endpoints (its clients' entries lead nowhere), an endpoint that went
// (entries lead to it), a Service that went. It returns the endpoints
// now, and the ops that clear those entries on every node here.
func (c *Cluster) staleUDP() (map[string][]netip.Addr, []netops.Op) {
	now := map[string][]netip.Addr{}
	for _, sp := range c.ServicePorts() {
		if sp.Protocol != "UDP" {
			continue
		}
		key := netip.AddrPortFrom(sp.ClusterIP, uint16(sp.Port)).String()
		now[key] = []netip.Addr{}
		for _, ep := range sp.Endpoints {
			now[key] = append(now[key], ep.IP)
		}
	}
	type del struct{ dst, src string }
	var dels []del
	keys := func(m map[string][]netip.Addr) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	for _, key := range keys(now) {
		vip := netip.MustParseAddrPort(key).Addr().String()
		old, had := c.Store.UDP[key]
		if (!had || len(old) == 0) && len(now[key]) > 0 {
			dels = append(dels, del{dst: vip})
			continue
		}
		for _, ip := range old {
			if !slices.Contains(now[key], ip) {
				dels = append(dels, del{dst: vip, src: ip.String()})
			}
		}
	}
	for _, key := range keys(c.Store.UDP) {
		if _, ok := now[key]; !ok {
			dels = append(dels, del{dst: netip.MustParseAddrPort(key).Addr().String()})
		}
	}
	var ops []netops.Op
	for _, n := range c.S.Topology.LocalNodes() {
		for _, d := range dels {
			ops = append(ops, netops.ConntrackDel{NS: n.NS, Proto: "udp", OrigDst: d.dst, ReplySrc: d.src})
		}
	}
	return now, ops
}
