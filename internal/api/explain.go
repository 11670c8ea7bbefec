package api

// Explain is 'netlab explain svc/NAME --json': one Service's rules in
// kube-proxy's two modes, step by step, for each of its ports.
type Explain struct {
	Version int    `json:"version"`
	Lab     string `json:"lab"`
	// Service is NAMESPACE/NAME.
	Service string `json:"service"`
	// ProxyMode is the mode the lab runs (iptables or nftables): its
	// rules are the ones loaded on every node; the other mode's are what
	// it would write for the same Service.
	ProxyMode string        `json:"proxy_mode"`
	Ports     []ExplainPort `json:"ports"`
}

// ExplainPort is one port of the Service, of one family.
type ExplainPort struct {
	// Port is the port as kube-proxy names it: "ns/name:port" ("ns/name"
	// for a lone unnamed port).
	Port        string        `json:"port"`
	Protocol    string        `json:"protocol"`
	ClusterIP   string        `json:"cluster_ip"`
	ServicePort int           `json:"service_port"`
	NodePort    int           `json:"node_port,omitempty"`
	Endpoints   []string      `json:"endpoints"`
	Steps       []ExplainStep `json:"steps"`
}

// ExplainStep is one step of what kube-proxy does with a new connection,
// with the rules of each mode that do it: iptables' as iptables-save
// prints them, nftables' as the nft commands that write them.
type ExplainStep struct {
	Step        string   `json:"step"`
	IPTables    []string `json:"iptables"`
	IPTablesWhy string   `json:"iptables_why,omitempty"`
	NFTables    []string `json:"nftables"`
	NFTablesWhy string   `json:"nftables_why,omitempty"`
}
