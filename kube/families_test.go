package kube

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
)

// TestSettleFamilies: a Service's families, policy and addresses settle as
// the API server's allocator settles them (initIPFamilyFields), in a
// dual-stack cluster and in one of IPv4 alone, for a new Service and an
// update (whose manifest leaves out what it keeps, as kubectl apply's
// patch does).
func TestSettleFamilies(t *testing.T) {
	pol := func(p corev1.IPFamilyPolicy) *corev1.IPFamilyPolicy { return &p }
	fams := func(f ...corev1.IPFamily) []corev1.IPFamily { return f }
	sel := map[string]string{"app": "MyApp"}
	a := netip.MustParseAddr
	dualOld := &Service{ClusterIP: a("10.96.0.20"), ClusterIP2: a("fd00:10:96::20"), Families: []string{IPv4, IPv6}, Policy: "PreferDualStack"}
	v4Old := &Service{ClusterIP: a("10.96.0.20")}
	for _, tc := range []struct {
		name string
		spec corev1.ServiceSpec
		old  *Service
		dual bool
		// want: families and policy, then the addresses ("-" to allocate),
		// or the refusal's path and words.
		fams, policy, ips, err string
	}{
		{"default: SingleStack, the cluster's first family", corev1.ServiceSpec{Selector: sel}, nil, true, "IPv4", "SingleStack", "-", ""},
		{"PreferDualStack in a dual-stack cluster: both", corev1.ServiceSpec{Selector: sel, IPFamilyPolicy: pol("PreferDualStack")}, nil, true, "IPv4,IPv6", "PreferDualStack", "-,-", ""},
		{"PreferDualStack in an IPv4 cluster: IPv4", corev1.ServiceSpec{Selector: sel, IPFamilyPolicy: pol("PreferDualStack")}, nil, false, "IPv4", "PreferDualStack", "-", ""},
		{"RequireDualStack, IPv6 first", corev1.ServiceSpec{Selector: sel, IPFamilyPolicy: pol("RequireDualStack"), IPFamilies: fams("IPv6")}, nil, true, "IPv6,IPv4", "RequireDualStack", "-,-", ""},
		{"IPv6 alone", corev1.ServiceSpec{Selector: sel, IPFamilies: fams("IPv6")}, nil, true, "IPv6", "SingleStack", "-", ""},
		{"families from the addresses asked for", corev1.ServiceSpec{Selector: sel, IPFamilyPolicy: pol("PreferDualStack"), ClusterIP: "fd00:10:96::30", ClusterIPs: []string{"fd00:10:96::30", "10.96.0.30"}}, nil, true, "IPv6,IPv4", "PreferDualStack", "fd00:10:96::30,10.96.0.30", ""},
		{"one address asked for, the other allocated", corev1.ServiceSpec{Selector: sel, IPFamilyPolicy: pol("RequireDualStack"), ClusterIP: "10.96.0.30"}, nil, true, "IPv4,IPv6", "RequireDualStack", "10.96.0.30,-", ""},
		{"headless without selector: both, even in an IPv4 cluster", corev1.ServiceSpec{ClusterIP: "None"}, nil, false, "IPv4,IPv6", "RequireDualStack", "", ""},
		{"headless with a selector: SingleStack", corev1.ServiceSpec{ClusterIP: "None", Selector: sel}, nil, true, "IPv4", "SingleStack", "", ""},
		{"update that leaves the fields out keeps them", corev1.ServiceSpec{Selector: sel}, dualOld, true, "IPv4,IPv6", "PreferDualStack", "10.96.0.20,fd00:10:96::20", ""},
		{"update to SingleStack drops the second", corev1.ServiceSpec{Selector: sel, IPFamilyPolicy: pol("SingleStack")}, dualOld, true, "IPv4", "SingleStack", "10.96.0.20", ""},
		{"update to PreferDualStack adds the second", corev1.ServiceSpec{Selector: sel, IPFamilyPolicy: pol("PreferDualStack")}, v4Old, true, "IPv4,IPv6", "PreferDualStack", "10.96.0.20,-", ""},

		{"two families need a dual policy", corev1.ServiceSpec{Selector: sel, IPFamilies: fams("IPv4", "IPv6")}, nil, true, "", "", "", "spec.ipFamilyPolicy: SingleStack (the default): must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families"},
		{"two addresses need a dual policy", corev1.ServiceSpec{Selector: sel, ClusterIPs: []string{"10.96.0.30", "fd00:10:96::30"}}, nil, true, "", "", "", "when multiple cluster IPs"},
		{"RequireDualStack in an IPv4 cluster", corev1.ServiceSpec{Selector: sel, IPFamilyPolicy: pol("RequireDualStack")}, nil, false, "", "", "", "spec.ipFamilyPolicy: RequireDualStack: this cluster is not configured for dual-stack services"},
		{"IPv6 in an IPv4 cluster", corev1.ServiceSpec{Selector: sel, IPFamilies: fams("IPv6")}, nil, false, "", "", "", "spec.ipFamilies[0]: IPv6: not configured on this cluster"},
		{"the first family is kept", corev1.ServiceSpec{Selector: sel, IPFamilies: fams("IPv6")}, v4Old, true, "", "", "", "spec.ipFamilies[0]: IPv6: may not change the primary IP family (it is IPv4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := settleFamilies(tc.spec, tc.old, tc.dual)
			if tc.err != "" {
				if assert.NotNil(t, err) {
					assert.Contains(t, err.Error(), tc.err)
				}
				return
			}
			if !assert.Nil(t, err) {
				return
			}
			assert.Equal(t, tc.fams, strings.Join(got.Families, ","))
			assert.Equal(t, tc.policy, got.Policy)
			var ips []string
			for _, ip := range got.IPs {
				if ip.IsValid() {
					ips = append(ips, ip.String())
				} else {
					ips = append(ips, "-")
				}
			}
			assert.Equal(t, tc.ips, strings.Join(ips, ","))
		})
	}
}
