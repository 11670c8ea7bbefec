package kube

// The kubelet's part: a pod is a network namespace on its node, with a
// veth pair into cni0, an address from the node's pod CIDR (the next free
// one, as host-local IPAM gives them), a route, a resolv.conf, and its
// containers' servers (the workload runtime, internal/podruntime's spec);
// readiness probes decide whether it is Ready (httpGet or tcpSocket, as the
// kubelet makes them, from the node). It keeps pods running: a pod whose servers died
// (killed, or crashed) is started again in its namespace, as the kubelet
// restarts a container under restartPolicy Always, with its back-off
// (10 s, 20 s, 40 s, ... at most 5 minutes) and the count kubectl shows
// as RESTARTS. netlab starts every server of the pod again when one of
// them is missing (its containers' servers are one runtime's children):
// a simplification of the kubelet, which restarts the one container. Pods
// an interrupted command made and never recorded are removed
// (SweepOrphans).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"netlab/internal/inventory"
	"netlab/internal/ipam"
	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/podruntime"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/overlay"
)

// Back-off of restarts, as the kubelet's: 10 s, doubling, at most 5
// minutes; a pod that has run 10 minutes since its last restart starts
// over at 10 s.
const (
	restartBackoff    = 10 * time.Second
	restartBackoffMax = 5 * time.Minute
	restartResetAfter = 10 * time.Minute
)

// backoff is how long a pod's servers stay dead before their next start.
func backoff(p Pod, now time.Time) time.Duration {
	if p.Restarts == 0 || now.Sub(p.Restarted) >= restartResetAfter+restartBackoffMax {
		return restartBackoff
	}
	d := restartBackoff << min(p.Restarts, 5)
	return min(d, restartBackoffMax)
}

// alive reports whether every server of pod p runs, given the processes
// of its namespace.
func alive(p Pod, procs map[int]string) bool {
	if p.System == "dns" {
		return len(procs) > 0
	}
	n := 0
	for _, comm := range procs {
		if comm == inventory.ServerComm(p.Name) || comm == inventory.UDPServerComm(p.Name) {
			n++
		}
	}
	return n >= len(p.Template.Containers)
}

// KeepRunning starts again the servers of this machine's pods that died,
// once their back-off has passed, and reports whether it changed a pod
// (a restart, or a death first seen).
func (c *Cluster) KeepRunning(ctx context.Context, now time.Time) (bool, error) {
	if c.Dry() {
		return false, nil
	}
	inodes := map[uint64]bool{}
	ino := map[string]uint64{}
	for _, p := range c.Store.Pods {
		var st unix.Stat_t
		if !c.local(p.Node) || p.NS == "" || unix.Stat(netops.Path(p.NS), &st) != nil {
			continue
		}
		inodes[st.Ino], ino[p.Namespace+"/"+p.Name] = true, st.Ino
	}
	procs := inventory.ByNetns(inodes)
	changed := false
	for k := range c.Store.Pods {
		p := &c.Store.Pods[k]
		i, ok := ino[p.Namespace+"/"+p.Name]
		if !ok {
			continue
		}
		if alive(*p, procs[i]) {
			p.DeadSince = time.Time{}
			continue
		}
		if p.DeadSince.IsZero() {
			p.DeadSince, changed = now, true
		}
		if now.Sub(p.DeadSince) < backoff(*p, now) {
			continue
		}
		// What is left of the pod's servers goes first: they start anew
		// together, on their own ports.
		for pid := range procs[i] {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := c.startServers(*p); err != nil {
			if c.Log != nil {
				fmt.Fprintf(c.Log, "restart pod %s: %v\n", p.Name, err)
			}
			p.DeadSince = now // try again after the next back-off
			continue
		}
		p.Restarts++
		p.Restarted, p.DeadSince, changed = now, time.Time{}, true
		p.Ready = false // until its probes say so
	}
	return changed, nil
}

// startServers starts pod p's servers in its namespace: netlab/web for
// each container, or the cluster DNS.
func (c *Cluster) startServers(p Pod) error {
	n := c.nodeNamed(p.Node)
	if p.System == "dns" {
		return startDNS(c.Exe, c.S.Lab, n, p.NS)
	}
	spec, err := serverSpec(p, n.Name)
	if err != nil {
		return err
	}
	return lab.StartSpec(c.Exe, c.S.Lab, n.Host, spec, "pods.log")
}

// nodeNamed is the topology's node of that name.
func (c *Cluster) nodeNamed(name string) topo.Node {
	for _, n := range c.S.Topology.Nodes {
		if n.Name == name {
			return n
		}
	}
	return topo.Node{Host: topo.Host{Name: name}}
}

// serverSpec is the runtime's spec for pod p's servers on node: one line
// per container, each field checked (podruntime).
func serverSpec(p Pod, node string) (string, error) {
	var lines []podruntime.Line
	for _, ct := range p.Template.Containers {
		kind := podruntime.Image
		if ct.ServesUDP() {
			kind = podruntime.ImageUDP
		}
		lines = append(lines, podruntime.Line{Netns: netops.Path(p.NS), Name: p.Name, IP: p.IP, Node: node, Kind: kind, Port: ct.ServePort(), Seventh: ct.Tag})
	}
	return podruntime.Spec(lines)
}

// SweepOrphans removes the pod namespaces of this lab that the records do
// not hold: what a command interrupted between making a pod and saving
// the records (Ctrl-C, SIGHUP, kill -9) left behind, with its servers. Left
// there, their names and addresses would be given out again ("network
// namespace ... already exists", one address in two pods). Only a
// namespace named as the lab names a manifest's pod and carrying the
// lab's marker is touched. It runs under the lab's lock, before anything
// else changes; it returns the namespaces it removed.
func (c *Cluster) SweepOrphans(ctx context.Context) ([]string, error) {
	if c.Dry() {
		return nil, nil
	}
	known := map[string]bool{}
	for _, p := range c.Store.Pods {
		known[string(p.NS)] = true
	}
	prefix := string(names.NetnsName(c.S.Lab, "k-"))
	ents, _ := os.ReadDir(netops.NetnsDir)
	var orphans []netops.NS
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, prefix) || known[n] {
			continue
		}
		if netops.IsNetns(netops.Path(netops.NS(n))) {
			if alias, err := netops.LoAlias(n); err != nil || !strings.HasPrefix(alias, names.MarkerPrefix(c.S.Lab)) {
				continue // not the lab's: never touched
			}
		} else if fi, err := os.Stat(netops.Path(netops.NS(n))); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			continue
		}
		orphans = append(orphans, netops.NS(n))
	}
	if len(orphans) == 0 {
		return nil, nil
	}
	var gone []string
	for _, ns := range orphans {
		gone = append(gone, string(ns))
	}
	return gone, c.endNamespaces(ctx, orphans)
}

// endNamespaces ends the processes of namespaces (one pass over /proc)
// and removes the namespaces, their veth pairs with them.
func (c *Cluster) endNamespaces(ctx context.Context, nss []netops.NS) error {
	inodes := map[uint64]bool{}
	var ops []netops.Op
	for _, ns := range nss {
		var st unix.Stat_t
		if err := unix.Stat(netops.Path(ns), &st); err == nil {
			inodes[st.Ino] = true
		}
		if netops.IsNetns(netops.Path(ns)) {
			// eth0 first: deleting one end of the veth pair deletes both
			// at once, whereas the namespace (and the pair with it) lives
			// on until its last process has died and the kernel's
			// cleanup has run, and a pod made again under the same name
			// would meet its host side ("file exists").
			ops = append(ops, netops.LinkDel{NS: ns, Name: "eth0"})
		}
		ops = append(ops, netops.NetnsDel{Name: string(ns)})
	}
	for _, procs := range inventory.ByNetns(inodes) {
		for pid := range procs {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return c.R.Run(ctx, ops)
}

// refreshReady probes pods as the kubelet would, side by side, and
// records whether each is Ready (and has been for its Deployment's
// minReadySeconds). It reports whether any pod changed.
func (c *Cluster) refreshReady(ps []Pod) bool {
	if c.Dry() {
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
		if pr == nil && ct.ServesUDP() {
			continue // nothing to connect to: ready once it runs
		}
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

// SameHost is the address of prefix p6 with a's host number in p
// (10.244.1.7 in 10.244.1.0/24 is fd00:10:244:1::7 in fd00:10:244:1::/64).
func SameHost(p netip.Prefix, a netip.Addr, p6 netip.Prefix) netip.Addr {
	b, _ := ipam.Nth(p6, ipam.HostNumber(p, a))
	return b
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
	if t.IPv6 {
		// host-local's IPv6 range hands out addresses in the same order
		// as the IPv4 one: the same host number (10.244.1.7 and
		// fd00:10:244:1::7), free as the IPv4 address is.
		p.IP6 = SameHost(n.PodCIDR, ip, n.PodCIDR6)
	}
	obj := "k-" + p.Namespace + "-" + p.Name
	p.NS = names.NetnsName(c.S.Lab, obj)
	p.HostIface = hostIface(p.Namespace, p.Name)
	if !c.local(n.Name) {
		// Another machine builds it, from the same commands: here it is
		// only known, as a pod of another node is to kube-proxy.
		p.NS, p.HostIface, p.Ready = "", "", c.Dry()
		c.Store.Pods = append(c.Store.Pods, p)
		if c.Dry() {
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
	w := state.Workload{Name: obj, Kind: "pod", Node: n.Name, NS: p.NS, IP: ip, Prefix: n.PodCIDR.Bits(), HostIface: p.HostIface,
		IP6: p.IP6, Prefix6: n.PodCIDR6.Bits()}
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
	if c.Dry() {
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
	if !c.Dry() {
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.stopPods(ctx, ps); err != nil {
		return err
	}
	return c.save()
}

// stopPods ends pods' processes and removes their namespaces (their veth
// pairs with them); another machine's pods are its own to end.
func (c *Cluster) stopPods(ctx context.Context, ps []Pod) error {
	var nss []netops.NS
	for _, p := range ps {
		if !c.local(p.Node) || p.NS == "" {
			continue
		}
		if c.Dry() {
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

// Refresh probes every pod again, as the kubelet keeps doing, and when
// one turned Ready or unready, updates every node's rules.
func (c *Cluster) Refresh(ctx context.Context) error {
	if c.Dry() {
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
