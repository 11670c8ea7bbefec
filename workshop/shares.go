package workshop

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"netlab/internal/netops"
)

// Shares computes, from a node's nat table as iptables-save prints it,
// the part of a Service's new connections each endpoint gets: the rules
// of the Service's KUBE-SVC chain are taken in order, each jump to a
// KUBE-SEP chain taking its probability (-m statistic --mode random
// --probability p, or 1/n for --mode nth --every n, or all) of what the
// rules before it left over, as the kernel does. The result maps each
// endpoint ("10.244.1.2:9376", from the KUBE-SEP chain's DNAT) to its
// part; what reaches no KUBE-SEP is under "". svc is the Service's
// "namespace/name" as kube-proxy's comments name it.
func Shares(save, svc string) (map[string]float64, error) {
	rules := map[string][][]string{}
	for _, l := range strings.Split(save, "\n") {
		if !strings.HasPrefix(l, "-A ") {
			continue
		}
		a := netops.SplitSaved(l)
		if len(a) < 2 {
			continue
		}
		rules[a[1]] = append(rules[a[1]], a[2:])
	}
	chain := ""
	for _, r := range rules["KUBE-SERVICES"] {
		if strings.Contains(strings.Join(r, " "), svc+" cluster IP") {
			chain = arg(r, "-j")
		}
	}
	if !strings.HasPrefix(chain, "KUBE-SVC-") {
		return nil, fmt.Errorf("no rule of KUBE-SERVICES sends %s's cluster IP to a KUBE-SVC chain", svc)
	}
	out := map[string]float64{}
	left := 1.0
	for _, r := range rules[chain] {
		target := arg(r, "-j")
		if target == "KUBE-MARK-MASQ" || target == "" {
			continue // marks, and goes on
		}
		p := 1.0
		if arg(r, "--mode") == "random" {
			v, err := strconv.ParseFloat(arg(r, "--probability"), 64)
			if err != nil {
				return nil, fmt.Errorf("%s: a --probability that is not a number: %v", chain, err)
			}
			p = v
		} else if arg(r, "--mode") == "nth" {
			n, err := strconv.Atoi(arg(r, "--every"))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%s: --every %q", chain, arg(r, "--every"))
			}
			p = 1 / float64(n)
		}
		to := ""
		if strings.HasPrefix(target, "KUBE-SEP-") {
			for _, s := range rules[target] {
				if d := arg(s, "--to-destination"); d != "" {
					to = d
				}
			}
		}
		out[to] += left * p
		left *= 1 - p
	}
	if left > 0 {
		out[""] += left
	}
	return out, nil
}

// arg is the value after opt in a rule's arguments.
func arg(r []string, opt string) string {
	for i := 0; i+1 < len(r); i++ {
		if r[i] == opt {
			return r[i+1]
		}
	}
	return ""
}

// even reports whether shares give each of the endpoints 1/N, to within
// tolerance, and nothing to anything else; text says who gets what.
func even(shares map[string]float64, endpoints []string, tolerance float64) (bool, string) {
	ok := len(endpoints) > 0
	want := 1 / float64(len(endpoints))
	var parts []string
	seen := map[string]bool{}
	for _, ep := range endpoints {
		seen[ep] = true
		got := shares[ep]
		ok = ok && math.Abs(got-want) <= tolerance
		parts = append(parts, fmt.Sprintf("%s %.1f%%", ep, 100*got))
	}
	var others []string
	for k, v := range shares {
		if !seen[k] && v > 0 {
			ok = false
			name := k
			if name == "" {
				name = "no endpoint"
			}
			others = append(others, fmt.Sprintf("%s %.1f%%", name, 100*v))
		}
	}
	sort.Strings(others)
	return ok, strings.Join(append(parts, others...), ", ")
}

// evenTolerance is how far from 1/N the rules may give an endpoint: far
// below the 11% the classic wrong fix of exercise 13 is off by, far above
// iptables' rounding of a probability (1e-10).
const evenTolerance = 0.01

// evenRequests is how many requests exercise 13 sends from each client
// (TestEvenlyArithmetic has the odds this gives).
const evenRequests = 1000

// evenBounds are the counts of n requests over k endpoints each endpoint
// must get: within 1/(6k) of n/k, half way to the nearest wrong split of
// exercise 13 for k = 3 (2/9 and 4/9 are 1/9 from 1/3).
func evenBounds(n, k int) (int, int) {
	tol := float64(n) / float64(6*k)
	mid := float64(n) / float64(k)
	return int(math.Ceil(mid - tol)), int(math.Floor(mid + tol))
}
