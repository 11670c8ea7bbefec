package compare

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"netlab/internal/api"
)

// Titles are the columns' headings.
var Titles = map[string]string{"docker": "Docker model", "kubernetes": "Kubernetes model", "hostgw": "Kubernetes, host-gw"}

func title(c api.Compare, key string) string {
	t := Titles[key]
	if t == "" {
		t = key
	}
	if b := c.Workloads[key].Backend; b != "" {
		return fmt.Sprintf("%s (lab %s, %s)", t, c.Labs[key], b)
	}
	return fmt.Sprintf("%s (lab %s)", t, c.Labs[key])
}

// lines renders one cell as a few short lines for the table; cs says who
// plays which part in its column.
func lines(id string, c *api.Cell, cs api.Cast) []string {
	id = strings.TrimSuffix(id, Suffix6) // the same question, over IPv6
	if c == nil {
		return []string{"-"}
	}
	if c.Error != "" && !c.Reachable && c.AnsweredBy == "" && c.MTU == 0 {
		return []string{"? " + clip(c.Error, 44)}
	}
	switch id {
	case SameNode, CrossNode:
		var l []string
		if c.Reachable {
			s := "yes"
			if c.RTTms != nil {
				s += fmt.Sprintf(" · %.3f ms", *c.RTTms)
			}
			l = append(l, s+" · "+plural(len(c.Hops), "hop"))
		} else {
			l = append(l, miss(c))
		}
		if len(c.Hops) > 0 && id == CrossNode {
			l = append(l, "hops "+strings.Join(c.Hops, " › "))
		}
		if id == CrossNode && len(c.Path) > 0 {
			l = append(l, leaves(c.Path, cs))
		}
		return l
	case SourceSeen, WorkToOutside:
		if c.SeenSource == "" {
			return []string{"no: " + clip(c.Note, 40)}
		}
		l := []string{"saw " + c.SeenSource + nat(c.Translated)}
		if id == SourceSeen && strings.HasPrefix(c.Note, "through") {
			l = append(l, "via "+c.To+" (published)")
		}
		return l
	case NodeToRemote:
		var l []string
		if c.Reachable {
			l = append(l, "yes · saw "+c.SeenSource+nat(c.Translated))
		} else {
			l = append(l, miss(c))
		}
		if b := c.Back; b != nil {
			switch {
			case b.Reachable:
				l = append(l, "back: saw "+b.SeenSource+nat(b.Translated))
			case b.Error != "":
				l = append(l, "back: ? "+clip(b.Error, 36))
			default:
				l = append(l, "back: no: "+clip(b.Note, 34))
			}
		}
		return l
	case OutsideToWork:
		var l []string
		if c.Reachable {
			l = append(l, "by address: yes · saw "+c.SeenSource)
		} else {
			l = append(l, "by address: no ("+clip(strings.TrimPrefix(c.Note, "no answer: "), 26)+")")
		}
		if p := c.Published; p != nil {
			switch {
			case p.Reachable:
				l = append(l, fmt.Sprintf("%s: %s saw %s", p.To, p.AnsweredBy, p.SeenSource))
			case p.To == "":
				l = append(l, "no published port or NodePort")
			default:
				l = append(l, p.To+": no ("+clip(strings.TrimPrefix(p.Note, "no answer: "), 24)+")")
			}
		}
		return l
	case RoutedToWork:
		switch {
		case c.Reachable:
			return []string{"yes · saw " + c.SeenSource + nat(c.Translated)}
		case strings.HasPrefix(c.Note, "dropped"):
			return []string{"no: dropped (raw PREROUTING)"}
		}
		return []string{miss(c)}
	case NameLookup:
		switch {
		case c.Reachable:
			return []string{strings.TrimSuffix(c.To, ".svc.cluster.local") + " → " + strings.Join(c.Resolved, ", "), "from " + c.Server}
		case c.Rcode != "":
			return []string{"no: " + c.Rcode + " from " + c.Server}
		case c.Server == "":
			return []string{clip(c.Note, 44)}
		}
		return []string{"no: " + clip(c.Note, 40)}
	case SharedNetns:
		if c.Reachable {
			return []string{c.From, fmt.Sprintf("%s: %s · %d processes", c.To, c.AnsweredBy, c.Processes)}
		}
		if c.To == "" {
			return []string{"none in this lab", "(docker run --network container:NAME)"}
		}
		return []string{"no: " + clip(c.Note, 40)}
	case Isolation:
		// A pod of the default namespace by its name alone, as kubectl.
		from, _, _ := strings.Cut(c.From, " ")
		from, meant := strings.TrimPrefix(from, "default/"), strings.TrimPrefix(c.Meant, "default/")
		if c.Reachable {
			return []string{"none: " + from + " → " + meant + " answered"}
		}
		l := []string{"yes: " + from + " → " + meant}
		if c.DroppedBy == "" {
			return append(l, c.Failed)
		}
		host, rule := dropRule(c.DroppedBy)
		return append(l, c.Failed+": "+host+"'s", rule)
	case MTU:
		s := fmt.Sprintf("eth0 %d", c.MTU)
		if c.MaxDFPayload != nil {
			s += fmt.Sprintf(" · DF payload ≤ %d", *c.MaxDFPayload)
		} else if c.Note != "" {
			s += " · " + clip(c.Note, 30)
		}
		return []string{s}
	case Encapsulation:
		if c.Overhead == nil {
			return []string{"? " + clip(c.Error, 44)}
		}
		if *c.Overhead == 0 {
			return []string{"0 bytes: the packet as it is"}
		}
		return []string{fmt.Sprintf("%d bytes: %s", *c.Overhead, c.Encap)}
	case Throughput:
		switch {
		case c.GbitS != nil && len(c.GbitRuns) > 1:
			return []string{fmt.Sprintf("%.2f Gbit/s (median)", *c.GbitS), fmt.Sprintf("%d runs: %.2f–%.2f", len(c.GbitRuns), slices.Min(c.GbitRuns), slices.Max(c.GbitRuns))}
		case c.GbitS != nil:
			return []string{fmt.Sprintf("%.2f Gbit/s", *c.GbitS)}
		case c.Error != "":
			return []string{clip(c.Error, 44)}
		}
		return []string{"no path between them"}
	}
	return []string{"-"}
}

// dropRule is a DroppedBy's host, and its rule's chain and target:
// "node1", "PREROUTING (raw) DROP" or "KUBE-POD-FW-ABCD REJECT".
func dropRule(d string) (string, string) {
	host, rest, _ := strings.Cut(d, ": ")
	f := strings.Fields(rest)
	chain, target, table := "", "", ""
	if len(f) > 0 && f[0] == "raw" {
		table = " (raw)"
	}
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "-A":
			chain = f[i+1]
		case "-j":
			target = f[i+1]
		}
	}
	if chain == "" {
		return host, clip(rest, 40)
	}
	return host, chain + table + " " + target
}

// miss says why a workload meant was not reached: somebody else answered
// (the same address is theirs), or nobody did.
func miss(c *api.Cell) string {
	if c.AnsweredBy != "" {
		return "no: " + c.AnsweredBy + " answered (the same address)"
	}
	return "no: " + clip(strings.TrimPrefix(c.Note, "no answer: "), 40)
}

// leaves says by which interfaces the packet leaves the asking node, from
// the walk's path: "leaves node1 by flannel.1 › eth1", or that it never
// leaves the asker.
func leaves(path []string, cs api.Cast) string {
	var outs []string
	for _, p := range path {
		f := strings.Fields(p) // host in → out
		if len(f) == 4 && f[0] == cs.Node && f[3] != "·" {
			outs = append(outs, f[3])
		}
	}
	if len(outs) == 0 {
		if len(path) == 1 {
			return "never leaves " + cs.A
		}
		return "does not leave " + cs.Node
	}
	return "leaves " + cs.Node + " by " + strings.Join(outs, " › ")
}

func nat(t *bool) string {
	switch {
	case t == nil:
		return ""
	case *t:
		return " · NAT"
	}
	return " · no NAT"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func width(s string) int { return utf8.RuneCountInString(s) }

func pad(s string, n int) string { return s + strings.Repeat(" ", max(0, n-width(s))) }

// TextWidth is the widest line Text writes: a projector's terminal.
const TextWidth = 100

// Text writes the comparison for a terminal: who plays which part, one
// table with a column per model, the verdicts with their evidence; no
// line wider than TextWidth (cells wrap within their column).
func Text(w io.Writer, c api.Compare) {
	fmt.Fprintln(w, "netlab compare: the same questions to each model, answered by real packets")
	fmt.Fprintln(w)
	for _, k := range c.Columns {
		cs := c.Workloads[k]
		who := fmt.Sprintf("%s asks; %s is on %s too", nameIP(cs.A, cs.AIP), nameIP(cs.B, cs.BIP), cs.Node)
		if cs.C != "" {
			who += fmt.Sprintf("; %s is on %s", nameIP(cs.C, cs.CIP), cs.Remote)
		}
		for i, l := range Wrap(who, TextWidth-24) {
			head := ""
			if i == 0 {
				head = Titles[k] + ":"
			}
			fmt.Fprintf(w, "  %-21s %s\n", head, l)
		}
	}
	fmt.Fprintln(w)
	labelW := 0
	for _, row := range c.Rows {
		labelW = max(labelW, width(labelOf(row.ID)))
	}
	n := len(c.Columns)
	// Each column as wide as its widest line, unless the table would be
	// wider than TextWidth: then each gets its share, and wraps.
	colW := make([]int, n)
	raw := make([][][]string, len(c.Rows))
	heads := make([][]string, n)
	for i, k := range c.Columns {
		colW[i] = width(title(c, k))
	}
	for r, row := range c.Rows {
		raw[r] = make([][]string, n)
		for i, k := range c.Columns {
			raw[r][i] = lines(row.ID, row.Cells[k], c.Workloads[k])
			for _, l := range raw[r][i] {
				colW[i] = max(colW[i], width(l))
			}
		}
	}
	share := (TextWidth - labelW - 3*n) / max(n, 1)
	total := labelW
	for i := range colW {
		total += 3 + colW[i]
	}
	if total > TextWidth {
		for i := range colW {
			colW[i] = min(colW[i], share)
		}
	}
	fit := func(ls []string, w int) []string {
		var out []string
		for _, l := range ls {
			for _, p := range Wrap(l, w) {
				out = append(out, clip(p, w))
			}
		}
		return out
	}
	for i, k := range c.Columns {
		// Too wide for one line: the model, then its lab, on a line each.
		heads[i] = []string{title(c, k)}
		if t := title(c, k); width(t) > colW[i] {
			m := Titles[k]
			if m == "" {
				m = k
			}
			heads[i] = fit([]string{m, strings.TrimSpace(strings.TrimPrefix(t, m))}, colW[i])
		}
	}
	block(w, "", labelW, heads, colW)
	rule := strings.Repeat("─", labelW)
	for i := range c.Columns {
		rule += "   " + strings.Repeat("─", colW[i])
	}
	fmt.Fprintln(w, rule)
	for r, row := range c.Rows {
		cells := make([][]string, n)
		for i := range c.Columns {
			cells[i] = fit(raw[r][i], colW[i])
		}
		block(w, labelOf(row.ID), labelW, cells, colW)
	}
	var ns []string
	for _, row := range c.Rows {
		ns = append(ns, row.Notes...)
	}
	if len(ns) > 0 {
		fmt.Fprintln(w)
		for _, n := range ns {
			for i, l := range Wrap(n, TextWidth-4) {
				fmt.Fprintln(w, map[bool]string{true: "  * ", false: "    "}[i == 0]+l)
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The seed's Kubernetes requirements, judged from those packets:")
	for _, v := range c.Verdicts {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  "+shortReq(v.ID))
		for _, k := range c.Columns {
			e := v.Evidence[k]
			for i, l := range Wrap(e.Sent+": "+e.Reported, TextWidth-32) {
				if i == 0 {
					fmt.Fprintf(w, "    %-21s %-4s  %s\n", Titles[k], v.Results[k], l)
				} else {
					fmt.Fprintf(w, "    %-21s %-4s  %s\n", "", "", l)
				}
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Took %.1f s. Next: 'sudo netlab trace SRC DST' walks one of these packets hop by hop;\n'sudo netlab compare --json' gives the same for scripts, --markdown for handouts.\n", float64(c.Millis)/1000)
}

// block writes one row of the table: label, then each column's lines side
// by side, as many lines as the longest column has.
func block(w io.Writer, label string, labelW int, cols [][]string, colW []int) {
	rows := 0
	for _, c := range cols {
		rows = max(rows, len(c))
	}
	for j := 0; j < rows; j++ {
		line := ""
		if j == 0 {
			line = label
		}
		line = pad(line, labelW)
		for i, c := range cols {
			v := ""
			if j < len(c) {
				v = c[j]
			}
			line += "   " + pad(v, colW[i])
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

func nameIP(name, ip string) string {
	if name == "" {
		return "-"
	}
	return name + " " + ip
}

func labelOf(id string) string {
	base, six := strings.CutSuffix(id, Suffix6)
	for _, q := range Questions {
		if q.ID == base {
			if six {
				return q.Label + ", IPv6"
			}
			return q.Label
		}
	}
	return id
}

// shortReq is a requirement as the seed words it (over IPv6, for an
// IPv6 verdict).
func shortReq(id string) string {
	if base, six := strings.CutSuffix(id, Suffix6); six {
		return shortReq(base) + ", over IPv6"
	}
	switch id {
	case NoNATWorkloads:
		return "no NAT between containers"
	case NoNATNodes:
		return "no NAT between containers and nodes"
	case SelfIP:
		return "the IP a container sees is the IP others see"
	}
	return id
}

// Markdown writes the comparison as a handout: the table, the verdicts
// and their evidence.
func Markdown(w io.Writer, c api.Compare) {
	fmt.Fprintln(w, "## netlab compare")
	fmt.Fprintln(w)
	for _, k := range c.Columns {
		cs := c.Workloads[k]
		fmt.Fprintf(w, "- **%s** (lab `%s`): `%s` asks; `%s` is on %s too", Titles[k], c.Labs[k], nameIP(cs.A, cs.AIP), nameIP(cs.B, cs.BIP), cs.Node)
		if cs.C != "" {
			fmt.Fprintf(w, "; `%s` is on %s", nameIP(cs.C, cs.CIP), cs.Remote)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	mdHead(w, "question", c.Columns)
	for _, row := range c.Rows {
		fmt.Fprintf(w, "| %s |", mdEscape(row.Question))
		for _, k := range c.Columns {
			ls := lines(row.ID, row.Cells[k], c.Workloads[k])
			for i := range ls {
				ls[i] = mdEscape(ls[i])
			}
			fmt.Fprintf(w, " %s |", strings.Join(ls, "<br>"))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	for _, row := range c.Rows {
		for _, n := range row.Notes {
			fmt.Fprintf(w, "- %s\n", mdEscape(n))
		}
		if len(row.Notes) > 0 {
			fmt.Fprintln(w)
		}
	}
	mdHead(w, "requirement", c.Columns)
	for _, v := range c.Verdicts {
		fmt.Fprintf(w, "| %s |", mdEscape(v.Requirement))
		for _, k := range c.Columns {
			fmt.Fprintf(w, " **%s** |", v.Results[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	for _, v := range c.Verdicts {
		fmt.Fprintf(w, "- *%s*\n", v.Requirement)
		for _, k := range c.Columns {
			e := v.Evidence[k]
			fmt.Fprintf(w, "  - %s: sent %s; %s\n", Titles[k], mdEscape(e.Sent), mdEscape(e.Reported))
		}
	}
}

// Wrap breaks s into lines of at most n runes, at spaces.
func Wrap(s string, n int) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && width(line)+1+width(word) > n {
			out = append(out, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(out, line)
}

// mdHead writes a Markdown table's heading: first, then a column per model.
func mdHead(w io.Writer, first string, cols []string) {
	fmt.Fprintf(w, "| %s |", first)
	for _, k := range cols {
		fmt.Fprintf(w, " %s |", Titles[k])
	}
	fmt.Fprint(w, "\n|---|")
	for range cols {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
