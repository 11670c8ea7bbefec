package kube

// The kubelet's part, as it keeps pods running: a pod whose servers died
// (killed, or crashed) is started again in its namespace, as the kubelet
// restarts a container under restartPolicy Always, with its back-off
// (10 s, 20 s, 40 s, ... at most 5 minutes) and the count kubectl shows
// as RESTARTS. netlab starts every server of the pod again when one of
// them is missing (its containers' servers are one runtime's children):
// a simplification of the kubelet, which restarts the one container.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"netlab/internal/inventory"
	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/podruntime"
	"netlab/internal/topo"
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
		if comm == inventory.ServerComm(p.Name) {
			n++
		}
	}
	return n >= len(p.Template.Containers)
}

// KeepRunning starts again the servers of this machine's pods that died,
// once their back-off has passed, and reports whether it changed a pod
// (a restart, or a death first seen).
func (c *Cluster) KeepRunning(ctx context.Context, now time.Time) (bool, error) {
	if c.Dry {
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
		lines = append(lines, podruntime.Line{Netns: netops.Path(p.NS), Name: p.Name, IP: p.IP, Node: node, Kind: podruntime.Image, Port: ct.ServePort(), Seventh: ct.Tag})
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
	if c.Dry {
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
