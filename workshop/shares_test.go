package workshop

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// natOf is a nat table of kube-proxy's shape for my-service over three
// endpoints, with the given jumps of its KUBE-SVC chain.
func natOf(jumps ...string) string {
	var b strings.Builder
	b.WriteString("*nat\n")
	b.WriteString(`-A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m comment --comment "default/my-service cluster IP" -m tcp --dport 80 -j KUBE-SVC-X` + "\n")
	b.WriteString(`-A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ` + "\n")
	for _, j := range jumps {
		b.WriteString("-A KUBE-SVC-X " + j + "\n")
	}
	for i, ip := range []string{"10.244.1.2", "10.244.1.3", "10.244.2.2"} {
		sep := "KUBE-SEP-" + string(rune('A'+i))
		b.WriteString("-A " + sep + " -s " + ip + "/32 -j KUBE-MARK-MASQ\n")
		b.WriteString("-A " + sep + " -p tcp -m tcp -j DNAT --to-destination " + ip + ":9376\n")
	}
	return b.String() + "COMMIT\n"
}

var eps3 = []string{"10.244.1.2:9376", "10.244.1.3:9376", "10.244.2.2:9376"}

// TestShares: each endpoint's part of the connections, from the rules, as
// the kernel takes them: the right fix of exercise 13, the classic wrong
// one, the break itself, nth, and a jump to nowhere.
func TestShares(t *testing.T) {
	for _, tc := range []struct {
		name  string
		jumps []string
		want  []float64 // the three endpoints', then no endpoint's
		even  bool
	}{
		{"kube-proxy's", []string{
			"-m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A",
			"-m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-B",
			"-j KUBE-SEP-C"}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3, 0}, true},
		{"0.3333 on every rule", []string{
			"-m statistic --mode random --probability 0.33330000000 -j KUBE-SEP-A",
			"-m statistic --mode random --probability 0.33330000000 -j KUBE-SEP-B",
			"-j KUBE-SEP-C"}, []float64{0.3333, 0.2222, 0.4445, 0}, false},
		{"the break", []string{
			"-m statistic --mode random --probability 0.90000000000 -j KUBE-SEP-A",
			"-m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-B",
			"-j KUBE-SEP-C"}, []float64{0.9, 0.05, 0.05, 0}, false},
		{"round robin with nth", []string{
			"-m statistic --mode nth --every 3 --packet 0 -j KUBE-SEP-A",
			"-m statistic --mode nth --every 2 --packet 0 -j KUBE-SEP-B",
			"-j KUBE-SEP-C"}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3, 0}, true},
		{"one jump deleted", []string{
			"-m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A",
			"-j KUBE-SEP-C"}, []float64{1.0 / 3, 0, 2.0 / 3, 0}, false},
		{"the last rule random too", []string{
			"-m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A",
			"-m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-B",
			"-m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-C"}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 6, 1.0 / 6}, false},
	} {
		s, err := Shares(natOf(tc.jumps...), "default/my-service")
		require.NoError(t, err, tc.name)
		for i, ep := range append(eps3, "") {
			assert.InDelta(t, tc.want[i], s[ep], 1e-4, "%s: %s", tc.name, ep)
		}
		ok, text := even(s, eps3, evenTolerance)
		assert.Equal(t, tc.even, ok, "%s: %s", tc.name, text)
	}
	_, err := Shares(natOf(), "default/other")
	assert.ErrorContains(t, err, "no rule of KUBE-SERVICES sends default/other's cluster IP")
	_, err = Shares(natOf("-m statistic --mode random --probability x -j KUBE-SEP-A"), "default/my-service")
	assert.ErrorContains(t, err, "not a number")
}

// binomTail is P(X < lo or X > hi) for X ~ Binomial(n, p).
func binomTail(n int, p float64, lo, hi int) float64 {
	out := 0.0
	for k := 0; k <= n; k++ {
		if k >= lo && k <= hi {
			continue
		}
		lg := lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
		out += math.Exp(lg)
	}
	return out
}

func lgamma(x int) float64 { v, _ := math.Lgamma(float64(x)); return v }

// TestEvenlyArithmetic is the arithmetic exercise 13 states: with
// evenRequests requests and each pod's count held to its bounds, a right
// fix (a third each) fails less than once in 1,000 checks, and the classic
// wrong fix (0.3333 on every rule: 1/3, 2/9, 4/9) passes less than once
// in 1,000, from the requests alone (the rules are checked too).
func TestEvenlyArithmetic(t *testing.T) {
	lo, hi := evenBounds(evenRequests, 3)
	t.Logf("%d requests, each pod between %d and %d", evenRequests, lo, hi)
	// A right fix fails when any of the three pods is out of bounds (the
	// union bound is above the truth).
	falseFail := 3 * binomTail(evenRequests, 1.0/3, lo, hi)
	// A wrong fix passes only when both the 2/9 and the 4/9 pods are in
	// bounds (at most the less likely of the two).
	falsePass := math.Min(1-binomTail(evenRequests, 2.0/9, lo, hi), 1-binomTail(evenRequests, 4.0/9, lo, hi))
	t.Logf("right fix refused: %.2g; wrong fix solved: %.2g", falseFail, falsePass)
	assert.Less(t, falseFail, 1e-3)
	assert.Less(t, falsePass, 1e-3)
}
