package api

// Trace is 'netlab trace --json': a packet's walk, hop by hop, from the
// kernel's own answers, then one real packet that confirms it (or not).
type Trace struct {
	Version int    `json:"version"`
	Lab     string `json:"lab"`
	// Src is the sender: a workload, node or the outside host.
	Src TraceEnd `json:"src"`
	// Dst is the address asked for, and what it names if anything.
	Dst   TraceEnd `json:"dst"`
	Proto string   `json:"proto"`
	Port  int      `json:"port,omitempty"`
	Hops  []Hop    `json:"hops"`
	// Outcome says how the walk ends: delivered, dropped, left (this
	// machine, on a real node) or looped.
	Outcome string `json:"outcome"`
	// DeliveredTo is the host or workload the walk ends in, when
	// delivered; the next hop ("node2 192.168.56.12") when it left.
	DeliveredTo string `json:"delivered_to,omitempty"`
	// Sent is what the real packet did: "connected: pod3 answered and saw
	// 10.244.1.2", "refused", "no answer".
	Sent string `json:"sent"`
	// Confirmed reports whether the real packet did what the walk says at
	// every hop; Disagreements say where and how it did not.
	Confirmed     bool     `json:"confirmed"`
	Disagreements []string `json:"disagreements,omitempty"`
	// Expected lists where the kernel differs from what netlab built
	// (a route, an FDB entry or a rule changed by hand).
	Expected []string `json:"expected,omitempty"`
	Millis   int64    `json:"ms"`
}

// TraceEnd is one end of a trace.
type TraceEnd struct {
	Name  string `json:"name,omitempty"`
	Netns string `json:"netns,omitempty"`
	IP    string `json:"ip"`
	Note  string `json:"note,omitempty"`
}

// Hop is what one network namespace does with the packet.
type Hop struct {
	// Host is the namespace's role: pod1, node1, underlay, outside, or
	// the machine's own node on a real one.
	Host      string `json:"host"`
	Namespace string `json:"namespace"`
	In        string `json:"in,omitempty"`
	Out       string `json:"out,omitempty"`
	// Packet is the packet as it arrives: "10.244.1.2 → 10.244.2.2 tcp/9376".
	Packet string `json:"packet"`
	// Route is the kernel's choice, as ip route get prints it.
	Route string `json:"route,omitempty"`
	// Rewrite is each netfilter rule that rewrote the packet here.
	Rewrite []Rewrite `json:"rewrite,omitempty"`
	// Filter is the FORWARD verdict of a routed packet and its rule ("FORWARD
	// ACCEPT: -A ..."), or the raw table's drop ("raw PREROUTING DROP: -A ...").
	Filter string `json:"filter,omitempty"`
	// FilterVia are the rules that jumped, chain into chain, to Filter's
	// rule (FORWARD → KUBE-FORWARD, say).
	FilterVia []string `json:"filter_via,omitempty"`
	// Bridge is the bridge's decision for a packet that came in on one of
	// its ports and is for the bridge itself: up to this host's IP stack.
	Bridge string `json:"bridge,omitempty"`
	// FDB is the bridge's or the VXLAN device's forwarding entry used.
	FDB string `json:"fdb,omitempty"`
	// Neighbour is the ARP entry (NDP's, in IPv6) that gave the next
	// hop's MAC.
	Neighbour     string `json:"neighbour,omitempty"`
	Encapsulation *Encap `json:"encapsulation,omitempty"`
	// Action: route, bridge, deliver, encapsulate, decapsulate, drop, leave.
	Action string `json:"action"`
	Note   string `json:"note,omitempty"`
	// Seen says what the real packet did here: the counters of In and Out
	// moved, or not.
	Seen string `json:"seen,omitempty"`
}

// Rewrite is a NAT rule that changed the packet.
type Rewrite struct {
	Table string `json:"table"`
	Chain string `json:"chain"`
	Rule  string `json:"rule"`
	// What says what changed: "dst 192.168.56.12:8080 → 172.17.0.2:80".
	What string `json:"what"`
	// Via are the rules that jumped, chain into chain, to Rule: a
	// Service's KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-….
	Via []string `json:"via,omitempty"`
	// Conntrack is the kernel's entry for the real packet, when read.
	Conntrack string `json:"conntrack,omitempty"`
}

// Encap is the outer header a VXLAN device puts around the packet.
type Encap struct {
	Type string `json:"type"`
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	Port int    `json:"port"`
	VNI  int    `json:"vni"`
}
