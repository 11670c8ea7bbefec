package kube

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/topo"
)

// Preflight refuses, before anything changes, what would make the
// Services untrue or make netlab touch what is not the lab's, as kubeadm's
// preflight checks do: bridged traffic that skips iptables (no
// br_netfilter, or bridge-nf-call-iptables off), and kube-proxy chains
// that netlab did not make (a Kubernetes node's, or another lab's).
func (c *Cluster) Preflight() error {
	t := c.S.Topology
	for _, n := range t.LocalNodes() {
		where := "node " + n.Name
		if !t.Embedded {
			where = "this machine (" + n.Name + ")"
		}
		if err := bridgeNF(n.NS, where); err != nil {
			return err
		}
		for _, table := range []string{"nat", "filter"} {
			out, err := netops.IPTablesSave(n.NS, table)
			if err != nil {
				return err
			}
			if err := c.foreignChains(out, table, where); err != nil {
				return err
			}
		}
		if err := c.foreignNFT(n.NS, where); err != nil {
			return err
		}
	}
	return nil
}

// foreignNFT refuses a table kube-proxy (of family ip or ip6) that this
// lab did not make: a kube-proxy in nftables mode runs here, or another
// lab's rules are here. A lab in nftables mode needs the nft tool.
func (c *Cluster) foreignNFT(ns netops.NS, where string) error {
	nftMode := c.S.Topology.Overlay.Proxy() == topo.ProxyNFTables
	for _, fam := range []string{"ip", "ip6"} {
		if c.Store.NFTSynced[fam] != nil {
			// The lab has synced this table: it made it (the first
			// sync's preflight looked). Listing a big table is not free.
			continue
		}
		has, err := netops.NFTHasTable(ns, fam, NFTTable)
		if errors.Is(err, netops.ErrNoNFT) {
			if nftMode {
				return fmt.Errorf("%s: kube-proxy's nftables mode needs the nft tool, which is not installed. Install it ('sudo apt-get install nftables'), then try again", where)
			}
			return nil
		}
		if err != nil || !has {
			return err
		}
		comment, err := netops.NFTTableComment(ns, fam, NFTTable)
		if err != nil {
			return err
		}
		if !names.OwnsTable(comment, c.S.Lab) {
			whose := "not netlab's"
			if _, rest, ok := strings.Cut(comment, "(netlab:"); ok {
				whose = "lab " + strings.TrimSuffix(rest, ")") + "'s"
			}
			return fmt.Errorf("%s already has a table %s %s that lab %s did not make (%s): a kube-proxy in nftables mode runs here, or another lab's Services are here; netlab will not touch it. Use a machine without kube-proxy (or take the other lab down), or an embedded lab", where, fam, NFTTable, c.S.Lab, whose)
		}
	}
	return nil
}

// bridgeNF checks that packets between two ports of cni0 pass iptables:
// a pod's request to a ClusterIP is DNATed to a pod on the same bridge,
// whose answer is bridged back and must meet conntrack to be un-DNATed.
func bridgeNF(ns netops.NS, where string) error {
	v, err := netops.ReadSysctl(ns, "net.bridge.bridge-nf-call-iptables")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: /proc/sys/net/bridge/bridge-nf-call-iptables does not exist: br_netfilter is not loaded, so answers bridged between two pods of a node would skip the Services' NAT. Load it as a Kubernetes node does ('sudo modprobe br_netfilter'; the Vagrantfile's provisioning does), then try again", where)
	case err != nil:
		return fmt.Errorf("%s: read net.bridge.bridge-nf-call-iptables: %w", where, err)
	case v != "1":
		return fmt.Errorf("%s: net.bridge.bridge-nf-call-iptables is %s: bridged packets skip iptables, so answers between two pods of a node would skip the Services' NAT. Set it as a Kubernetes node does ('sudo sysctl -w net.bridge.bridge-nf-call-iptables=1'), then try again", where, v)
	}
	return nil
}

// foreignChains reads a table as iptables-save prints it and refuses
// kube-proxy's chains that this lab did not make: a KUBE-* chain with a
// rule that is not the lab's, a jump to one from a rule that is not, or
// any KUBE-* chain before the lab made its own.
func (c *Cluster) foreignChains(save, table, where string) error {
	lab := c.S.Lab
	found := map[string]string{} // chain → whose
	for _, line := range strings.Split(save, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && strings.HasPrefix(f[0], ":KUBE-") && !c.Store.Jumps:
			found[f[0][1:]] = "not netlab's"
		case len(f) > 2 && f[0] == "-A" && !names.MarkedRule(line, lab):
			chain := ""
			if strings.HasPrefix(f[1], "KUBE-") {
				chain = f[1]
			} else if i := strings.Index(line, " -j KUBE-"); i >= 0 {
				chain = strings.Fields(line[i+4:])[0]
			}
			if chain == "" {
				continue
			}
			whose := "not netlab's"
			if other := names.RuleLab(line); other != "" {
				whose = "lab " + other + "'s"
			}
			found[chain] = whose
		}
	}
	if len(found) == 0 {
		return nil
	}
	var list []string
	for chain, whose := range found {
		list = append(list, chain+" ("+whose+")")
	}
	sort.Strings(list)
	if len(list) > 3 {
		list = append(list[:3], fmt.Sprintf("and %d more", len(list)-3))
	}
	return fmt.Errorf("%s already has kube-proxy chains in its %s table that lab %s did not make: %s. It looks like a Kubernetes node, or another lab's Services are here: netlab will not touch them. Use a machine without kube-proxy (or take the other lab down), or an embedded lab", where, table, lab, strings.Join(list, ", "))
}
