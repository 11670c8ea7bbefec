package api

import (
	"encoding/json"
	"sort"
)

// Compare is 'netlab compare --json': the same questions asked of each
// model's lab, answered by real packets.
type Compare struct {
	Version int `json:"version"`
	// Labs maps a column (docker, kubernetes, hostgw) to its lab's name.
	Labs map[string]string `json:"labs"`
	// Columns are the keys of Labs in the order of the table.
	Columns  []string  `json:"columns"`
	Rows     []Row     `json:"rows"`
	Verdicts []Verdict `json:"verdicts"`
	// Workloads names, per column, the workloads the questions used: a
	// (the asker), b (a on the same node) and c (on another node).
	Workloads map[string]Cast `json:"workloads"`
	// Millis is how long the questions took, throughput included.
	Millis int64 `json:"ms"`
}

// Cast is who plays which part in a column's questions.
type Cast struct {
	A        string `json:"a"`
	AIP      string `json:"a_ip"`
	B        string `json:"b,omitempty"`
	BIP      string `json:"b_ip,omitempty"`
	C        string `json:"c,omitempty"`
	CIP      string `json:"c_ip,omitempty"`
	Node     string `json:"node"`
	NodeIP   string `json:"node_ip"`
	Remote   string `json:"remote_node,omitempty"`
	RemoteIP string `json:"remote_node_ip,omitempty"`
	Outside  string `json:"outside,omitempty"`
	// Backend is the Kubernetes model's flannel backend.
	Backend string `json:"backend,omitempty"`
}

// Row is one question, with a cell per column. In JSON the cells are keys
// of the row beside id and question: {"id":..,"docker":{..},"kubernetes":{..}}.
type Row struct {
	ID       string
	Question string
	Cells    map[string]*Cell
	// Notes say, in plain words, what a reader could take the row to say
	// and it does not ("within noise", "flannel masquerades that way").
	Notes []string
}

// MarshalJSON writes the cells as keys of the row.
func (r Row) MarshalJSON() ([]byte, error) {
	m := map[string]any{"id": r.ID, "question": r.Question}
	if len(r.Notes) > 0 {
		m["notes"] = r.Notes
	}
	for k, c := range r.Cells {
		m[k] = c
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a row written by MarshalJSON.
func (r *Row) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	r.Cells = map[string]*Cell{}
	for k, v := range m {
		var err error
		switch k {
		case "id":
			err = json.Unmarshal(v, &r.ID)
		case "question":
			err = json.Unmarshal(v, &r.Question)
		case "notes":
			err = json.Unmarshal(v, &r.Notes)
		default:
			c := &Cell{}
			err = json.Unmarshal(v, c)
			r.Cells[k] = c
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Cell is one model's answer to one question. Reachable says whether the
// workload meant answered; the other fields are what was measured.
type Cell struct {
	Reachable bool `json:"reachable"`
	// From and To say what was asked: "c1 172.17.0.2" → "172.17.0.2:80".
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// RTTms is the mean round trip of the pings.
	RTTms *float64 `json:"rtt_ms,omitempty"`
	// Hops are traceroute's answers, one address per hop ("*" for none).
	Hops []string `json:"hops,omitempty"`
	// Path is the interfaces the packet passes, per host: "node1
	// veth-pod1 → flannel.1" (· where it starts or ends there).
	Path []string `json:"path,omitempty"`
	// AnsweredBy is the workload (or host) whose server answered.
	AnsweredBy string `json:"answered_by,omitempty"`
	// SeenSource is the client address the receiver reported.
	SeenSource string `json:"seen_source,omitempty"`
	// Translated reports whether SeenSource differs from the sender's own
	// source address for that destination (its route's source).
	Translated *bool `json:"translated,omitempty"`
	// Back is the same question the other way round.
	Back *Cell `json:"back,omitempty"`
	// OwnNode is a workload of the asking node to that node.
	OwnNode *Cell `json:"own_node,omitempty"`
	// Published is the question asked through a published port (Docker)
	// or a NodePort (Kubernetes).
	Published    *Cell  `json:"published,omitempty"`
	MTU          int    `json:"mtu,omitempty"`
	MaxDFPayload *int   `json:"max_df_payload,omitempty"`
	Overhead     *int   `json:"overhead_bytes,omitempty"`
	Encap        string `json:"encapsulation,omitempty"`
	// GbitS is the median of the runs of GbitRuns, in Gbit/s.
	GbitS    *float64  `json:"gbit_s,omitempty"`
	GbitRuns []float64 `json:"gbit_s_runs,omitempty"`
	// Server, Rcode and Resolved are a name lookup's: the nameserver the
	// workload's resolv.conf names, its answer's rcode and addresses.
	Server   string   `json:"server,omitempty"`
	Rcode    string   `json:"rcode,omitempty"`
	Resolved []string `json:"resolved,omitempty"`
	// Processes are those in a shared network namespace.
	Processes int `json:"processes,omitempty"`
	// Meant is the workload a question was for, where To is its address
	// (the isolation row).
	Meant string `json:"meant,omitempty"`
	// Failed is how a connection that reached nobody ended: "connection
	// refused" (a REJECT, or no server), "i/o timeout" (a DROP).
	Failed string `json:"failed,omitempty"`
	// DroppedBy is the host and the rule that drop the packet on its way,
	// from the kernel's tables (netlab trace's walk): "node1: raw
	// PREROUTING DROP: -A PREROUTING ...".
	DroppedBy string `json:"dropped_by,omitempty"`
	// Note says in plain words what the cell means, where that is not
	// obvious ("answered by c1 itself: the same address on every host").
	Note string `json:"note,omitempty"`
	// Error says why the probe could not run at all.
	Error string `json:"error,omitempty"`
}

// Verdict is one of the seed's Kubernetes requirements, judged per column.
type Verdict struct {
	ID          string
	Requirement string
	Results     map[string]string // column -> PASS or FAIL
	Evidence    map[string]Evidence
}

// Evidence is what was sent and what the receiver reported.
type Evidence struct {
	Sent     string `json:"sent"`
	Reported string `json:"reported"`
}

// MarshalJSON writes the results as keys beside id:
// {"id":..,"docker":"FAIL","kubernetes":"PASS","evidence":{"docker":{..}}}.
func (v Verdict) MarshalJSON() ([]byte, error) {
	m := map[string]any{"id": v.ID, "requirement": v.Requirement, "evidence": v.Evidence}
	for k, r := range v.Results {
		m[k] = r
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a verdict written by MarshalJSON.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	v.Results = map[string]string{}
	for k, raw := range m {
		var err error
		switch k {
		case "id":
			err = json.Unmarshal(raw, &v.ID)
		case "requirement":
			err = json.Unmarshal(raw, &v.Requirement)
		case "evidence":
			err = json.Unmarshal(raw, &v.Evidence)
		default:
			var r string
			err = json.Unmarshal(raw, &r)
			v.Results[k] = r
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SortedColumns returns the keys of m in the table's order: docker,
// kubernetes, hostgw, then any other by name.
func SortedColumns[T any](m map[string]T) []string {
	rank := map[string]int{"docker": 0, "kubernetes": 1, "hostgw": 2}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		ri, iok := rank[ks[i]]
		rj, jok := rank[ks[j]]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return ks[i] < ks[j]
	})
	return ks
}
