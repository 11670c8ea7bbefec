package kube

// A Service's IP families, settled as the API server settles them when it
// allocates (pkg/registry/core/service/storage/alloc.go,
// initIPFamilyFields and allocClusterIPs, Kubernetes v1.34): the policy
// defaults to SingleStack (RequireDualStack for a headless Service without
// a selector), the families follow the cluster IPs asked for, then the
// cluster's first family (netlab's clusters are IPv4 first, as kind's
// dual-stack ones are); PreferDualStack and RequireDualStack add the other
// family where the cluster has it; RequireDualStack is refused where it
// does not. This file is pure: Plan asks it what is wrong, applyService
// what to allocate.

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// settled is a Service's families as the API server leaves them.
type settled struct {
	Families []string
	Policy   string
	// IPs are the cluster IPs asked for (or kept from before), one per
	// family; an invalid one is to be allocated. None for a headless
	// Service.
	IPs      []netip.Addr
	Headless bool
}

// familyError is a refusal, by the field it is about.
type familyError struct{ Path, Reason string }

func (e *familyError) Error() string { return e.Path + ": " + e.Reason }

func other(fam string) string {
	if fam == IPv4 {
		return IPv6
	}
	return IPv4
}

// settleFamilies settles spec's families in a cluster that is dual-stack
// or not, old being the Service as it is (nil for a new one). What a
// manifest leaves out keeps its value, as kubectl apply's patch does; a
// policy of SingleStack on an update drops the second family and its
// address, which is how a Service goes back to one family.
func settleFamilies(spec corev1.ServiceSpec, old *Service, dual bool) (settled, *familyError) {
	bad := func(path, reason string, a ...any) (settled, *familyError) {
		return settled{}, &familyError{path, fmt.Sprintf(reason, a...)}
	}
	out := settled{Headless: spec.ClusterIP == corev1.ClusterIPNone || (spec.ClusterIP == "" && old != nil && !old.ClusterIP.IsValid())}
	switch {
	case spec.IPFamilyPolicy != nil:
		out.Policy = string(*spec.IPFamilyPolicy)
	case old != nil:
		out.Policy = orSingle(old.Policy)
	case out.Headless && len(spec.Selector) == 0:
		out.Policy = string(corev1.IPFamilyPolicyRequireDualStack)
	default:
		out.Policy = string(corev1.IPFamilyPolicySingleStack)
	}
	single := out.Policy == string(corev1.IPFamilyPolicySingleStack)
	for _, f := range spec.IPFamilies {
		out.Families = append(out.Families, string(f))
	}
	var ips []netip.Addr
	given := spec.ClusterIPs
	if len(given) == 0 && spec.ClusterIP != "" {
		given = []string{spec.ClusterIP}
	}
	if !out.Headless {
		for _, s := range given {
			ips = append(ips, netip.MustParseAddr(s)) // checkFamilies parsed them
		}
	}
	if single && (len(given) == 2 || len(out.Families) == 2) {
		what := "cluster IPs"
		if len(out.Families) == 2 {
			what = "IP families"
		}
		return bad("spec.ipFamilyPolicy", "SingleStack (the default): must be 'RequireDualStack' or 'PreferDualStack' when multiple %s are specified", what)
	}
	if old != nil {
		// Left out of the manifest: as they were.
		if len(out.Families) == 0 {
			out.Families = append([]string{}, old.IPFamilies()...)
		}
		if len(given) == 0 && !out.Headless {
			ips = old.ClusterIPs()
		}
		if single {
			out.Families = out.Families[:1]
			ips = ips[:min(len(ips), 1)]
		}
	}
	for i := len(out.Families); i < len(ips); i++ {
		out.Families = append(out.Families, FamilyOf(ips[i]))
	}
	if out.Headless && len(spec.Selector) == 0 {
		// Headless without a selector may be of both families even in a
		// cluster of one: its addresses are whatever its endpoints are.
		if len(out.Families) == 0 {
			out.Families = []string{IPv4}
		}
		if len(out.Families) < 2 && !single {
			out.Families = append(out.Families, other(out.Families[0]))
		}
		return out, checkPrimary(out, old)
	}
	if out.Policy == string(corev1.IPFamilyPolicyRequireDualStack) && !dual {
		return bad("spec.ipFamilyPolicy", "RequireDualStack: this cluster is not configured for dual-stack services (the lab is IPv4 only: make it with overlay-mode --ipv6)")
	}
	for i, f := range out.Families {
		if f == IPv6 && !dual {
			return bad(fmt.Sprintf("spec.ipFamilies[%d]", i), "IPv6: not configured on this cluster (the lab is IPv4 only: make it with overlay-mode --ipv6)")
		}
	}
	if len(out.Families) == 0 {
		out.Families = []string{IPv4}
	}
	if !single && len(out.Families) == 1 && dual {
		out.Families = append(out.Families, other(out.Families[0]))
	}
	if !out.Headless {
		out.IPs = make([]netip.Addr, len(out.Families))
		for i, f := range out.Families {
			for _, ip := range ips {
				if ip.IsValid() && FamilyOf(ip) == f {
					out.IPs[i] = ip
				}
			}
		}
	}
	return out, checkPrimary(out, old)
}

// checkPrimary refuses a change of a Service's first family, which the API
// server keeps as it keeps its clusterIP.
func checkPrimary(s settled, old *Service) *familyError {
	if old == nil || old.IPFamilies()[0] == s.Families[0] {
		return nil
	}
	return &familyError{"spec.ipFamilies[0]", fmt.Sprintf("%s: may not change the primary IP family (it is %s): delete the Service and apply it again", s.Families[0], old.IPFamilies()[0])}
}

func orSingle(p string) string {
	if p == "" {
		return string(corev1.IPFamilyPolicySingleStack)
	}
	return p
}

// dual reports whether the cluster is dual-stack (its lab made with
// --ipv6): its Services may be of IPv6 too.
func (c *Cluster) dual() bool { return c.S != nil && c.S.Topology.IPv6 }
