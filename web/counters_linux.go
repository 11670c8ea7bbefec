package web

import (
	"sort"
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
}

type sample struct {
	at     time.Time
	rx, tx uint64
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
	var out []Link
	for _, t := range ts {
		nl, err := netops.Netlink(t.ns)
		if err != nil {
			continue // gone since the scan: its lab is going down
		}
		links, err := netops.Dump(nl.LinkList)
		nl.Close()
		if err != nil {
			continue
		}
		for _, l := range links {
			a := l.Attrs()
			if a.Name == "lo" || a.Statistics == nil || (t.only != nil && !t.only(a.Name, a.Alias)) {
				continue
			}
			k := Link{Lab: t.lab, Netns: string(t.ns), Iface: a.Name, RxBytes: a.Statistics.RxBytes, TxBytes: a.Statistics.TxBytes,
				RxPackets: a.Statistics.RxPackets, TxPackets: a.Statistics.TxPackets}
			key := k.Lab + "\x00" + k.Netns + "\x00" + k.Iface
			if p, ok := c.last[key]; ok && now.After(p.at) && k.RxBytes >= p.rx && k.TxBytes >= p.tx {
				dt := now.Sub(p.at).Seconds()
				k.RxBps, k.TxBps = float64(k.RxBytes-p.rx)*8/dt, float64(k.TxBytes-p.tx)*8/dt
			}
			c.last[key] = sample{at: now, rx: k.RxBytes, tx: k.TxBytes}
			out = append(out, k)
		}
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
