package web

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"netlab/internal/inventory"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// Link is one interface's counters, and its rates since the last look:
// the contract of /api/events.
type Link struct {
	Lab       string  `json:"lab"`
	Netns     string  `json:"netns"`
	Iface     string  `json:"iface"`
	RxBytes   uint64  `json:"rx_bytes"`
	TxBytes   uint64  `json:"tx_bytes"`
	RxPackets uint64  `json:"rx_packets"`
	TxPackets uint64  `json:"tx_packets"`
	RxBps     float64 `json:"rx_bps"`
	TxBps     float64 `json:"tx_bps"`
	// RxPps and TxPps are packets a second, as the rates in bits.
	RxPps float64 `json:"rx_pps"`
	TxPps float64 `json:"tx_pps"`
}

// Event is one snapshot a second: every link of every running lab.
type Event struct {
	Time  time.Time `json:"time"`
	Links []Link    `json:"links"`
}

// target is a namespace whose links are a lab's: all but lo, or, in a
// real node's own namespace, only the lab's marked links and the
// underlay interface.
type target struct {
	lab  string
	ns   netops.NS
	only func(name, alias string) bool
}

// targets are the namespaces of the running labs, as down finds them.
func targets(states []*state.State) []target {
	var out []target
	for _, s := range states {
		for _, ns := range inventory.Scan(s.Lab).Namespaces {
			out = append(out, target{lab: s.Lab, ns: ns})
		}
		if !s.Topology.Embedded {
			prefix := names.MarkerPrefix(s.Lab)
			iface := ""
			if local := s.Topology.LocalNodes(); len(local) > 0 {
				iface = local[0].Iface
			}
			out = append(out, target{lab: s.Lab, ns: netops.Host, only: func(name, alias string) bool {
				return name == iface || strings.HasPrefix(alias, prefix)
			}})
		}
	}
	return out
}

// counters reads the kernel's interface counters and keeps the last
// reading of each, for rates.
type counters struct {
	mu   sync.Mutex
	last map[string]sample
	// ts are the namespaces to read, as last scanned.
	ts      []target
	scanned time.Time
}

type sample struct {
	at             time.Time
	rx, tx         uint64
	rxPkts, txPkts uint64
}

// netlinkCounters reads the counters of the links a target picks by
// their alias (a real node's own namespace), by netlink.
func netlinkCounters(t target) ([]Link, error) {
	links, err := netops.Links(t.ns)
	if err != nil {
		return nil, err
	}
	var out []Link
	for _, l := range links {
		a := l.Attrs()
		if a.Name == "lo" || a.Statistics == nil || !t.only(a.Name, a.Alias) {
			continue
		}
		out = append(out, Link{Lab: t.lab, Netns: string(t.ns), Iface: a.Name, RxBytes: a.Statistics.RxBytes, TxBytes: a.Statistics.TxBytes,
			RxPackets: a.Statistics.RxPackets, TxPackets: a.Statistics.TxPackets})
	}
	return out, nil
}

// parseNetDev reads /proc/net/dev:
//
//	Inter-|   Receive                                                |  Transmit
//	 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets ...
//	  eth0: 1296      16    0    0    0     0          0         0     1226      15 ...
func parseNetDev(t target, data string) []Link {
	var out []Link
	lines := strings.Split(data, "\n")
	if len(lines) < 2 {
		return nil
	}
	for _, line := range lines[2:] {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if !ok || name == "lo" || len(f) < 10 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		out = append(out, Link{Lab: t.lab, Netns: string(t.ns), Iface: name, RxBytes: n(0), RxPackets: n(1), TxBytes: n(8), TxPackets: n(9)})
	}
	return out
}

// read returns every link of ts, with rates since the previous read. It
// opens each namespace for the moment it reads it and closes it at once:
// a handle kept open would keep a namespace that down deleted alive.
func (c *counters) read(ts []target, now time.Time) []Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]sample{}
	}
	out := []Link{} // an empty list, not null, when no lab is up
	for _, t := range ts {
		var links []Link
		if t.only != nil {
			var err error
			if links, err = netlinkCounters(t); err != nil {
				continue
			}
		}
		out = append(out, links...)
	}
	// Every other namespace's counters, from /proc/thread-self/net/dev as a
	// thread inside it sees it (a text file the kernel writes on demand:
	// much cheaper than a netlink dump of every link's attributes).
	var nss []netops.NS
	byNS := map[netops.NS]target{}
	for _, t := range ts {
		if t.only == nil {
			nss = append(nss, t.ns)
			byNS[t.ns] = t
		}
	}
	_ = netops.InEach(nss, func(ns netops.NS) {
		if data, err := os.ReadFile("/proc/thread-self/net/dev"); err == nil {
			out = append(out, parseNetDev(byNS[ns], string(data))...)
		}
	})
	for i := range out {
		k := &out[i]
		key := k.Lab + "\x00" + k.Netns + "\x00" + k.Iface
		if p, ok := c.last[key]; ok && now.After(p.at) && k.RxBytes >= p.rx && k.TxBytes >= p.tx && k.RxPackets >= p.rxPkts && k.TxPackets >= p.txPkts {
			dt := now.Sub(p.at).Seconds()
			k.RxBps, k.TxBps = float64(k.RxBytes-p.rx)*8/dt, float64(k.TxBytes-p.tx)*8/dt
			k.RxPps, k.TxPps = float64(k.RxPackets-p.rxPkts)/dt, float64(k.TxPackets-p.txPkts)/dt
		}
		c.last[key] = sample{at: now, rx: k.RxBytes, tx: k.TxBytes, rxPkts: k.RxPackets, txPkts: k.TxPackets}
	}
	// Forget links that went, so that the map does not grow with every
	// lab ever seen.
	for key, p := range c.last {
		if p.at != now {
			delete(c.last, key)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Netns != out[j].Netns {
			return out[i].Netns < out[j].Netns
		}
		return out[i].Iface < out[j].Iface
	})
	return out
}
