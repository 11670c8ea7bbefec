package netops

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"sort"
	"strings"

	"netlab/internal/netns"
)

// NS is a network namespace (netns.NS, named here for netops' callers).
type NS = netns.NS

// Host is the namespace the netlab process runs in: on a VM, the node itself.
const Host = netns.Host

// Op is one kernel change and the commands that make the same change.
type Op interface {
	// Commands returns the equivalent shell commands, one per line.
	Commands() []string
}

// ip renders an ip(8) command acting in ns.
func ip(ns NS, args ...string) string {
	if ns == Host {
		return "ip " + strings.Join(args, " ")
	}
	return "ip -n " + string(ns) + " " + strings.Join(args, " ")
}

// inNS renders a command run inside ns with `ip netns exec`.
func inNS(ns NS, args ...string) string {
	if ns == Host {
		return strings.Join(args, " ")
	}
	return "ip netns exec " + string(ns) + " " + strings.Join(args, " ")
}

// NetnsAdd creates a named network namespace, brings its loopback up and
// marks the loopback with Marker, so that netlab can recognise the namespace
// as its own even without a state file. Sysctls, if any, are set in the new
// namespace before anything else is created in it.
type NetnsAdd struct {
	Name    string
	Marker  string
	Sysctls []KV
}

// Commands implements Op.
func (o NetnsAdd) Commands() []string {
	cmds := []string{"ip netns add " + o.Name}
	if len(o.Sysctls) > 0 {
		cmds = append(cmds, sysctlCommands(NS(o.Name), o.Sysctls)...)
	}
	return append(cmds, ip(NS(o.Name), "link set lo up alias", Quote(o.Marker)))
}

// Sysctl sets kernel parameters in a namespace, in the given order.
type Sysctl struct {
	NS       NS
	Settings []KV
}

// KV is one sysctl key and value, such as net.ipv4.ip_forward=1. An
// Optional key is set only where the kernel has it (a module's, such as
// br_netfilter's net.bridge.*): `sysctl -e` skips it elsewhere.
type KV struct {
	Key, Value string
	Optional   bool
}

// Commands implements Op.
func (o Sysctl) Commands() []string { return sysctlCommands(o.NS, o.Settings) }

// sysctlCommands renders kvs as one sysctl command, and one more with -e
// for the optional ones.
func sysctlCommands(ns NS, kvs []KV) []string {
	var cmds []string
	for _, optional := range []bool{false, true} {
		args := []string{"sysctl", "-qw"}
		if optional {
			args[1] = "-qew"
		}
		for _, s := range kvs {
			if s.Optional == optional {
				args = append(args, Quote(s.Key+"="+s.Value))
			}
		}
		if len(args) > 2 {
			cmds = append(cmds, inNS(ns, args...))
		}
	}
	return cmds
}

// BridgeAdd creates a Linux bridge, marks it with Alias and brings it up.
// MTU and MAC, when set, are set on the bridge (a bridge given a MAC keeps
// it; otherwise it takes the lowest of its ports', which changes as ports
// come and go).
type BridgeAdd struct {
	NS    NS
	Name  string
	Alias string
	MTU   int
	MAC   string
}

// Commands implements Op.
func (o BridgeAdd) Commands() []string {
	add := []string{"link add", o.Name}
	if o.MAC != "" {
		add = append(add, "address", o.MAC)
	}
	if o.MTU > 0 {
		add = append(add, "mtu", fmt.Sprint(o.MTU))
	}
	return []string{
		ip(o.NS, append(add, "type bridge")...),
		ip(o.NS, "link set", o.Name, "alias", Quote(o.Alias)),
		ip(o.NS, "link set", o.Name, "up"),
	}
}

// VxlanAdd creates a VXLAN device the way flannel does: a VNI, a fixed
// MAC, the local underlay address and device, a UDP port, and no learning
// (every remote MAC is a static FDB entry). It gets Addr (a /32) and
// comes up.
type VxlanAdd struct {
	NS    NS
	Name  string
	Alias string
	VNI   int
	MAC   string
	Local string
	Dev   string
	Port  int
	MTU   int
	Addr  string
	// NoDAD adds an IPv6 Addr without duplicate address detection.
	NoDAD bool
}

// Commands implements Op.
func (o VxlanAdd) Commands() []string {
	return []string{
		ip(o.NS, "link add", o.Name, "address", o.MAC, "mtu", fmt.Sprint(o.MTU), "type vxlan id", fmt.Sprint(o.VNI),
			"local", o.Local, "dev", o.Dev, "dstport", fmt.Sprint(o.Port), "nolearning"),
		ip(o.NS, "link set", o.Name, "alias", Quote(o.Alias)),
		AddrAdd{NS: o.NS, Dev: o.Name, CIDR: o.Addr, NoDAD: o.NoDAD}.Commands()[0],
		ip(o.NS, "link set", o.Name, "up"),
	}
}

// NeighReplace sets a permanent ARP entry: IP is at MAC on Dev.
type NeighReplace struct {
	NS  NS
	IP  string
	MAC string
	Dev string
}

// Commands implements Op.
func (o NeighReplace) Commands() []string {
	return []string{ip(o.NS, "neigh replace", o.IP, "lladdr", o.MAC, "dev", o.Dev, "nud permanent")}
}

// FdbReplace sets a permanent forwarding entry on a VXLAN device: frames
// for MAC go in a tunnel to the underlay address Dst.
type FdbReplace struct {
	NS  NS
	MAC string
	Dev string
	Dst string
}

// Commands implements Op.
func (o FdbReplace) Commands() []string {
	cmd := "bridge fdb replace " + o.MAC + " dev " + o.Dev + " dst " + o.Dst + " self permanent"
	if o.NS != Host {
		cmd = "bridge -n " + string(o.NS) + " fdb replace " + o.MAC + " dev " + o.Dev + " dst " + o.Dst + " self permanent"
	}
	return []string{cmd}
}

// Ethtool changes a device's offload settings with ethtool -K.
type Ethtool struct {
	NS       NS
	Dev      string
	Settings []string // pairs: feature, on|off
}

// Commands implements Op.
func (o Ethtool) Commands() []string {
	return []string{inNS(o.NS, append([]string{"ethtool -K", o.Dev}, o.Settings...)...)}
}

// VethAdd creates a veth pair whose first end, Name, is in NS (optionally a
// port of Master) and whose peer is born inside PeerNS, so a crash can never
// strand it in the wrong namespace. Both ends come up.
type VethAdd struct {
	NS       NS
	Name     string
	Master   string
	Alias    string
	PeerNS   NS
	PeerName string
	// PeerMAC, when set, is the MAC of the peer (a container's eth0).
	PeerMAC string
	// Hairpin sends frames back out of the bridge port they came in by
	// (Docker's layout without its userland proxy).
	Hairpin bool
	// MTU, when not zero, is set on both ends.
	MTU int
}

// Commands implements Op.
func (o VethAdd) Commands() []string {
	add := []string{"link add", o.Name}
	if o.Master != "" {
		add = append(add, "master", o.Master)
	}
	if o.MTU > 0 {
		add = append(add, "mtu", fmt.Sprint(o.MTU))
	}
	add = append(add, "up type veth peer name", o.PeerName)
	if o.PeerMAC != "" {
		add = append(add, "address", o.PeerMAC)
	}
	if o.MTU > 0 {
		add = append(add, "mtu", fmt.Sprint(o.MTU))
	}
	if o.PeerNS != o.NS && o.PeerNS != Host {
		add = append(add, "netns", string(o.PeerNS))
	}
	cmds := []string{ip(o.NS, add...)}
	if o.Alias != "" {
		cmds = append(cmds, ip(o.NS, "link set", o.Name, "alias", Quote(o.Alias)))
	}
	if o.Hairpin {
		cmds = append(cmds, ip(o.NS, "link set", o.Name, "type bridge_slave hairpin on"))
	}
	return append(cmds, ip(o.PeerNS, "link set", o.PeerName, "up"))
}

// AddrAdd adds an address (CIDR notation) to a device. NoDAD adds an IPv6
// one without duplicate address detection, usable at once (as Docker adds
// its bridge's and containers').
type AddrAdd struct {
	NS    NS
	Dev   string
	CIDR  string
	NoDAD bool
}

// Commands implements Op.
func (o AddrAdd) Commands() []string {
	args := []string{"addr add", o.CIDR, "dev", o.Dev}
	if o.NoDAD {
		args = append(args, "nodad")
	}
	return []string{ip(o.NS, args...)}
}

// RouteAdd adds a route. Dst is a CIDR or "default".
type RouteAdd struct {
	NS     NS
	Dst    string
	Via    string
	Dev    string
	Onlink bool
}

// Commands implements Op.
func (o RouteAdd) Commands() []string {
	args := []string{"route add", o.Dst}
	if o.Via != "" {
		args = append(args, "via", o.Via)
	}
	if o.Dev != "" {
		args = append(args, "dev", o.Dev)
	}
	if o.Onlink {
		args = append(args, "onlink")
	}
	return []string{ip(o.NS, args...)}
}

// Rule is one iptables rule in a chain. Why is a short reason; it becomes
// the rule's comment after the lab's marker, so every rule in the kernel
// says who made it and what it is for.
type Rule struct {
	Table  string
	Chain  string
	Insert bool // insert at the top of Chain instead of appending
	Spec   []string
	Why    string
}

// IPTables creates the chains (in their tables) and loads the rules, each
// carrying the comment Marker+" "+Why. Chains are created empty; built-in
// chains are only ever added to, never flushed. Policies are set on
// built-in chains only in a namespace netlab made (an embedded node, where
// it plays dockerd), never on a real node's own.
type IPTables struct {
	NS NS
	// IPv6 loads them with ip6tables: the IPv6 tables.
	IPv6     bool
	Marker   string
	Chains   []Chain
	Policies []Policy
	Rules    []Rule
}

// Policy is the policy of a built-in chain, such as FORWARD DROP.
type Policy struct{ Table, Chain, Target string }

// Chain is a chain of netlab's own in a table.
type Chain struct{ Table, Name string }

func (o IPTables) comment(r Rule) string {
	if r.Why == "" {
		return o.Marker
	}
	return o.Marker + " " + r.Why
}

// ruleArgs renders the rule's match and target with its comment placed
// before the jump, as iptables-save prints it.
func (o IPTables) ruleArgs(r Rule, quote func(string) string) []string {
	spec := append([]string(nil), r.Spec...)
	j := len(spec)
	for i, a := range spec {
		if a == "-j" || a == "-g" {
			j = i
			break
		}
	}
	// A spec's words go as they are ("!" too, as learners type it); one
	// with spaces or quotes (kube-proxy's comments) is quoted.
	q := func(a string) string {
		if strings.ContainsAny(a, " \t\"'$`\\;&|<>(){}*?") {
			return quote(a)
		}
		return a
	}
	var out []string
	for _, a := range spec[:j] {
		out = append(out, q(a))
	}
	out = append(out, "-m", "comment", "--comment", quote(o.comment(r)))
	for _, a := range spec[j:] {
		out = append(out, q(a))
	}
	return out
}

// Tool is the command that loads the rules: iptables or ip6tables.
func (o IPTables) Tool() string {
	if o.IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// Commands implements Op.
func (o IPTables) Commands() []string {
	var cmds []string
	tool := o.Tool() + " -w -t"
	for _, c := range o.Chains {
		cmds = append(cmds, inNS(o.NS, tool, c.Table, "-N", c.Name))
	}
	for _, p := range o.Policies {
		cmds = append(cmds, inNS(o.NS, tool, p.Table, "-P", p.Chain, p.Target))
	}
	for _, r := range o.Rules {
		verb := "-A"
		if r.Insert {
			verb = "-I"
		}
		args := append([]string{tool, r.Table, verb, r.Chain}, o.ruleArgs(r, Quote)...)
		cmds = append(cmds, inNS(o.NS, args...))
	}
	return cmds
}

// Restore renders the rules as iptables-restore --noflush input: one
// transaction per table, so a table is changed all at once or not at all.
func (o IPTables) Restore() string {
	tables := map[string][]string{}
	var order []string
	add := func(t, line string) {
		if _, ok := tables[t]; !ok {
			order = append(order, t)
		}
		tables[t] = append(tables[t], line)
	}
	for _, c := range o.Chains {
		add(c.Table, ":"+c.Name+" - [0:0]")
	}
	for _, p := range o.Policies {
		add(p.Table, ":"+p.Chain+" "+p.Target+" [0:0]")
	}
	for _, r := range o.Rules {
		verb := "-A"
		if r.Insert {
			verb = "-I"
		}
		add(r.Table, verb+" "+r.Chain+" "+strings.Join(o.ruleArgs(r, restoreQuote), " "))
	}
	sort.SliceStable(order, func(i, j int) bool { return tableRank(order[i]) < tableRank(order[j]) })
	var b strings.Builder
	for _, t := range order {
		b.WriteString("*" + t + "\n")
		for _, l := range tables[t] {
			b.WriteString(l + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// restoreQuote quotes an argument the way iptables-restore reads it: double
// quotes around anything with a space.
func restoreQuote(s string) string {
	if strings.ContainsAny(s, " \t\"'") {
		return `"` + strings.ReplaceAll(s, `"`, `'`) + `"`
	}
	return s
}

func tableRank(t string) int {
	switch t {
	case "raw":
		return 0
	case "nat":
		return 1
	case "filter":
		return 2
	}
	return 3
}

// Parallel is independent groups of ops, such as one group per container:
// the ops of a group run in order, and groups may run at the same time.
// The commands print group after group, as a script would run them.
type Parallel struct {
	Groups [][]Op
}

// Commands implements Op.
func (o Parallel) Commands() []string {
	var cmds []string
	for _, g := range o.Groups {
		for _, op := range g {
			cmds = append(cmds, op.Commands()...)
		}
	}
	return cmds
}

// Flatten returns ops with every Parallel unrolled into its groups' ops.
func Flatten(ops []Op) []Op {
	var out []Op
	for _, op := range ops {
		if p, ok := op.(Parallel); ok {
			for _, g := range p.Groups {
				out = append(out, Flatten(g)...)
			}
			continue
		}
		out = append(out, op)
	}
	return out
}

// Quote returns s quoted for a POSIX shell when it needs quoting.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Script renders ops as a bash script, one command per line.
func Script(ops []Op) string {
	var b strings.Builder
	for _, op := range ops {
		for _, c := range op.Commands() {
			b.WriteString(c + "\n")
		}
	}
	return b.String()
}

// NetnsDel deletes a named network namespace; the kernel frees every
// interface, route and rule in it once no process is left in it. A
// namespace already gone is no error: down may run any number of times.
type NetnsDel struct{ Name string }

// Commands implements Op.
func (o NetnsDel) Commands() []string { return []string{"ip netns del " + o.Name} }

// LinkDel deletes a link, and with it its addresses, routes, neighbour and
// FDB entries. A link already gone is no error.
type LinkDel struct {
	NS   NS
	Name string
}

// Commands implements Op.
func (o LinkDel) Commands() []string { return []string{ip(o.NS, "link del", o.Name)} }

// IPTablesDel removes rules and chains of one table: Rules are "-D CHAIN
// ..." lines as iptables-save prints the rules (so each is found by its
// exact spec), then Chains are flushed and deleted. All in one
// iptables-restore transaction.
type IPTablesDel struct {
	NS     NS
	Table  string
	Rules  []string
	Chains []string
	// IPv6: in ip6tables.
	IPv6 bool
}

func (o IPTablesDel) tool() string { return IPTables{IPv6: o.IPv6}.Tool() }

// Commands implements Op.
func (o IPTablesDel) Commands() []string {
	var cmds []string
	for _, r := range o.Rules {
		args := []string{o.tool() + " -w -t", o.Table}
		for _, a := range SplitSaved(r) {
			args = append(args, Quote(a))
		}
		cmds = append(cmds, inNS(o.NS, args...))
	}
	for _, c := range o.Chains {
		cmds = append(cmds, inNS(o.NS, o.tool()+" -w -t", o.Table, "-F", c))
	}
	for _, c := range o.Chains {
		cmds = append(cmds, inNS(o.NS, o.tool()+" -w -t", o.Table, "-X", c))
	}
	return cmds
}

// Restore renders the deletions as iptables-restore --noflush input.
func (o IPTablesDel) Restore() string {
	var b strings.Builder
	b.WriteString("*" + o.Table + "\n")
	for _, r := range o.Rules {
		b.WriteString(r + "\n")
	}
	for _, c := range o.Chains {
		b.WriteString("-F " + c + "\n")
	}
	for _, c := range o.Chains {
		b.WriteString("-X " + c + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// SplitSaved splits a rule as iptables-save prints it into its arguments:
// words, and double-quoted strings in which iptables-save escapes quotes
// with a backslash (--comment "the user\'s rules").
func SplitSaved(line string) []string {
	var args []string
	var cur strings.Builder
	in, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case in && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			in, have = !in, true
		case c == ' ' && !in:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// RouteDel deletes a route that RouteAdd made (Dst, Via and Dev as there).
// A route already gone is no error.
type RouteDel struct {
	NS  NS
	Dst string
	Via string
	Dev string
}

// Commands implements Op.
func (o RouteDel) Commands() []string {
	args := []string{"route del", o.Dst}
	if o.Via != "" {
		args = append(args, "via", o.Via)
	}
	if o.Dev != "" {
		args = append(args, "dev", o.Dev)
	}
	return []string{ip(o.NS, args...)}
}

// LinkSet changes a link: its MTU, down, off its bridge, its bridge port's
// hairpin mode. The workshop's exercises break labs with it.
type LinkSet struct {
	NS       NS
	Name     string
	MTU      int
	Down     bool
	NoMaster bool
	// Hairpin, when set, turns the bridge port's hairpin mode on or off.
	Hairpin *bool
}

// Commands implements Op.
func (o LinkSet) Commands() []string {
	var cmds []string
	if o.MTU > 0 {
		cmds = append(cmds, ip(o.NS, "link set", o.Name, "mtu", fmt.Sprint(o.MTU)))
	}
	if o.NoMaster {
		cmds = append(cmds, ip(o.NS, "link set", o.Name, "nomaster"))
	}
	if o.Hairpin != nil {
		cmds = append(cmds, ip(o.NS, "link set", o.Name, "type bridge_slave hairpin", map[bool]string{true: "on", false: "off"}[*o.Hairpin]))
	}
	if o.Down {
		cmds = append(cmds, ip(o.NS, "link set", o.Name, "down"))
	}
	return cmds
}

// FdbDel deletes a VXLAN device's forwarding entry: frames for MAC no
// longer know which underlay address to go to. An entry already gone is
// no error.
type FdbDel struct {
	NS  NS
	MAC string
	Dev string
	Dst string
}

// Commands implements Op.
func (o FdbDel) Commands() []string {
	args := "fdb del " + o.MAC + " dev " + o.Dev + " dst " + o.Dst + " self"
	if o.NS != Host {
		return []string{"bridge -n " + string(o.NS) + " " + args}
	}
	return []string{"bridge " + args}
}

// ConntrackDel deletes the connection tracking entries of Proto whose
// original destination is OrigDst (and, when ReplySrc is set, whose answer
// comes from it), as kube-proxy does for a UDP Service whose endpoints
// changed: UDP has no end of connection, and a client's packets would keep
// going where conntrack first sent them (nowhere, or to a pod that is
// gone). No entry to delete is no error (conntrack then exits 1).
type ConntrackDel struct {
	NS       NS
	Proto    string // udp
	OrigDst  string
	ReplySrc string
}

// Commands implements Op.
func (o ConntrackDel) Commands() []string {
	args := []string{"conntrack -D -p", o.Proto, "--orig-dst", o.OrigDst}
	if o.ReplySrc != "" {
		args = append(args, "--reply-src", o.ReplySrc)
	}
	return []string{inNS(o.NS, args...) + " || true"}
}

// Nfacct makes named packet-and-byte counters of the kernel's
// nfnetlink_acct in a namespace, or with Del removes them. iptables'
// nfacct match counts into them (kube-proxy's
// ct_state_invalid_dropped_pkts and localhost_nps_accepted_pkts; 'nfacct
// list' shows them). Making one that is there leaves it as it is, with its
// counts; removing one that is not there, or that a rule still counts
// into (the kernel keeps it busy), is no error either.
type Nfacct struct {
	NS    NS
	Del   bool
	Names []string
}

// Commands implements Op.
func (o Nfacct) Commands() []string {
	verb := map[bool]string{false: "nfacct add", true: "nfacct del"}[o.Del]
	var cmds []string
	for _, n := range o.Names {
		cmds = append(cmds, inNS(o.NS, verb, n)+" 2>/dev/null || true")
	}
	return cmds
}

// ResolvConf gives a namespace its own /etc/resolv.conf, the way `ip
// netns exec` reads it: /etc/netns/NS/resolv.conf, bind-mounted over
// /etc/resolv.conf for what runs there. Its first line is Marker, so that
// deleting the namespace deletes it too, and nothing else.
type ResolvConf struct {
	NS     NS
	Marker string
	Lines  []string
}

// Text is the file's content.
func (o ResolvConf) Text() string {
	return "# " + o.Marker + "\n" + strings.Join(o.Lines, "\n") + "\n"
}

// Commands implements Op.
func (o ResolvConf) Commands() []string {
	return []string{
		"mkdir -p /etc/netns/" + string(o.NS),
		"printf '%s' " + Quote(strings.ReplaceAll(o.Text(), "\n", "\\n")) + " > /etc/netns/" + string(o.NS) + "/resolv.conf",
	}
}

// IPTablesRaw adds one rule as iptables-save prints it ("-A CHAIN ..."),
// or, with Replace, puts it in place of rule number Replace of its chain.
// The workshop's exercises break kube-proxy's rules with it; a rule read
// back from a lab keeps the lab's comment, so down finds it.
type IPTablesRaw struct {
	NS      NS
	Table   string
	Chain   string
	Rule    string
	Replace int
}

// Args are the iptables arguments of the op.
func (o IPTablesRaw) Args() []string {
	args := SplitSaved(o.Rule)
	if len(args) < 2 {
		return nil
	}
	spec := args[2:]
	if o.Replace > 0 {
		return append([]string{"-w", "-t", o.Table, "-R", o.Chain, fmt.Sprint(o.Replace)}, spec...)
	}
	return append([]string{"-w", "-t", o.Table, "-A", o.Chain}, spec...)
}

// Commands implements Op.
func (o IPTablesRaw) Commands() []string {
	var q []string
	for _, a := range o.Args() {
		q = append(q, Quote(a))
	}
	return []string{inNS(o.NS, append([]string{"iptables"}, q...)...)}
}

// IPSet is one ipset: its name, type (hash:ip, hash:net), family (inet,
// inet6) and entries ("10.244.1.2", "10.244.1.3/32 nomatch").
type IPSet struct {
	Name, Type, Family string
	Entries            []string
}

// IPSets makes each set hold exactly its entries, all at once for a
// reader of it: the entries go into a new set that is then swapped with
// the set of that name (made if missing), as kube-router refreshes its
// sets; then the sets in Destroy are destroyed (a set a rule still uses
// cannot be: delete the rule first). One `ipset restore`.
type IPSets struct {
	NS      NS
	Sets    []IPSet
	Destroy []string
}

// tmpSet is the name of the set a set's new entries are gathered in.
func tmpSet(name string) string {
	h := sha256.Sum256([]byte(name))
	return "TMP-" + base32.StdEncoding.EncodeToString(h[:])[:16]
}

// lines are the restore input, one command each, without "ipset".
func (o IPSets) lines() []string {
	var out []string
	for _, s := range o.Sets {
		opts := s.Type + " family " + s.Family
		tmp := tmpSet(s.Name)
		out = append(out, "create "+s.Name+" "+opts+" -exist", "create "+tmp+" "+opts+" -exist", "flush "+tmp)
		for _, e := range s.Entries {
			out = append(out, "add "+tmp+" "+e+" -exist")
		}
		out = append(out, "swap "+tmp+" "+s.Name, "destroy "+tmp)
	}
	for _, d := range o.Destroy {
		out = append(out, "destroy "+d)
	}
	return out
}

// Commands implements Op.
func (o IPSets) Commands() []string {
	var cmds []string
	for _, l := range o.lines() {
		cmds = append(cmds, inNS(o.NS, "ipset "+l))
	}
	return cmds
}

// Restore is the input of `ipset restore`.
func (o IPSets) Restore() string { return strings.Join(o.lines(), "\n") + "\n" }

// NFT is one nftables transaction in a namespace: its lines are nft
// commands without "nft" ("add chain ip kube-proxy services"), loaded at
// once by `nft -f -`: all of them, or on an error none.
type NFT struct {
	NS    NS
	Lines []string
}

// Commands implements Op: each line an nft command of its own, quoted
// for a shell. Run one after another they make what the transaction
// makes at once.
func (o NFT) Commands() []string {
	var cmds []string
	for _, l := range o.Lines {
		cmds = append(cmds, inNS(o.NS, "nft '"+strings.ReplaceAll(l, "'", `'\''`)+"'"))
	}
	return cmds
}

// Script is the input of `nft -f -`.
func (o NFT) Script() string { return strings.Join(o.Lines, "\n") + "\n" }
