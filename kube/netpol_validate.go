package kube

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkPolicySpec validates a NetworkPolicy's spec as the API server's
// ValidateNetworkPolicySpec does (pkg/apis/networking/validation):
// selectors, ports (protocol, number or IANA name, endPort only after a
// numeric port and not below it), peers (at least one selector or an
// ipBlock, never an ipBlock with a selector), ipBlocks (a CIDR, excepts
// strictly inside it) and policyTypes. It returns the first bad field's
// path and why, "" when the spec is valid.
func checkPolicySpec(sp *networkingv1.NetworkPolicySpec) (string, string) {
	spec := field.NewPath("spec")
	errs := selectorErrs(&sp.PodSelector, spec.Child("podSelector"))
	for i, r := range sp.Ingress {
		p := spec.Child("ingress").Index(i)
		errs = append(errs, portsErrs(r.Ports, p.Child("ports"))...)
		errs = append(errs, peersErrs(r.From, p.Child("from"))...)
	}
	for i, r := range sp.Egress {
		p := spec.Child("egress").Index(i)
		errs = append(errs, portsErrs(r.Ports, p.Child("ports"))...)
		errs = append(errs, peersErrs(r.To, p.Child("to"))...)
	}
	if len(sp.PolicyTypes) > 2 {
		errs = append(errs, field.Invalid(spec.Child("policyTypes"), sp.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range sp.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(spec.Child("policyTypes").Index(i), t, []string{"Ingress", "Egress"}))
		}
	}
	if len(errs) == 0 {
		return "", ""
	}
	return errs[0].Field, errs[0].ErrorBody()
}

func selectorErrs(s *metav1.LabelSelector, p *field.Path) field.ErrorList {
	return metavalidation.ValidateLabelSelector(s, metavalidation.LabelSelectorValidationOptions{}, p)
}

func portsErrs(ports []networkingv1.NetworkPolicyPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		p := path.Index(i)
		if port.Protocol != nil {
			switch *port.Protocol {
			case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
			default:
				errs = append(errs, field.NotSupported(p.Child("protocol"), *port.Protocol, []string{"TCP", "UDP", "SCTP"}))
			}
		}
		switch {
		case port.Port == nil:
			if port.EndPort != nil {
				errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
			}
		case port.Port.Type == intstr.Int:
			for _, m := range validation.IsValidPortNum(int(port.Port.IntVal)) {
				errs = append(errs, field.Invalid(p.Child("port"), port.Port.IntVal, m))
			}
			if port.EndPort != nil {
				if *port.EndPort < port.Port.IntVal {
					errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
				}
				for _, m := range validation.IsValidPortNum(int(*port.EndPort)) {
					errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, m))
				}
			}
		default:
			if port.EndPort != nil {
				errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
			}
			for _, m := range validation.IsValidPortName(port.Port.StrVal) {
				errs = append(errs, field.Invalid(p.Child("port"), port.Port.StrVal, m))
			}
		}
	}
	return errs
}

func peersErrs(peers []networkingv1.NetworkPolicyPeer, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, peer := range peers {
		p := path.Index(i)
		n := 0
		if peer.PodSelector != nil {
			n++
			errs = append(errs, selectorErrs(peer.PodSelector, p.Child("podSelector"))...)
		}
		if peer.NamespaceSelector != nil {
			n++
			errs = append(errs, selectorErrs(peer.NamespaceSelector, p.Child("namespaceSelector"))...)
		}
		if peer.IPBlock != nil {
			n++
			errs = append(errs, ipBlockErrs(peer.IPBlock, p.Child("ipBlock"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Required(p, "must specify a peer"))
		case n > 1 && peer.IPBlock != nil:
			errs = append(errs, field.Forbidden(p, "may not specify both ipBlock and another peer"))
		}
	}
	return errs
}

// ipBlockErrs: the API server parses CIDRs sloppily (leading zeros
// pass, host bits are dropped); netlab refuses what Go's netip does not
// parse, with the reason, and drops host bits as the server does.
func ipBlockErrs(b *networkingv1.IPBlock, p *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(p.Child("cidr"), "")}
	}
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return field.ErrorList{field.Invalid(p.Child("cidr"), b.CIDR, fmt.Sprintf("must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64): %v", err))}
	}
	cidr = cidr.Masked()
	var errs field.ErrorList
	for i, e := range b.Except {
		ex, err := netip.ParsePrefix(e)
		if err != nil {
			errs = append(errs, field.Invalid(p.Child("except").Index(i), e, fmt.Sprintf("must be a valid CIDR value: %v", err)))
			continue
		}
		if !cidr.Contains(ex.Addr()) || ex.Addr().Is4() != cidr.Addr().Is4() || cidr.Bits() >= ex.Bits() {
			errs = append(errs, field.Invalid(p.Child("except").Index(i), e, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}

// checkNetworkPolicy validates a NetworkPolicy manifest as the API server
// would: its metadata (a DNS-1123 subdomain as its name), then its spec.
func checkNetworkPolicy(o *Object) error {
	np := o.NetworkPolicy
	bad := func(path, reason string, a ...any) error {
		return &ManifestError{Doc: o.Doc, Object: "NetworkPolicy " + np.Name, Path: path, Reason: fmt.Sprintf(reason, a...)}
	}
	if err := checkMeta(bad, np.Name, content.IsDNS1123Subdomain, "DNS-1123 subdomain", &np.Namespace, np.Labels); err != nil {
		return err
	}
	if path, why := checkPolicySpec(&np.Spec); why != "" {
		return bad(path, "%s", why)
	}
	return nil
}

// checkNamespaceObject validates a Namespace manifest: a DNS-1123 label
// as its name, its labels. The API server sets the label
// kubernetes.io/metadata.name to the name, whatever the manifest says.
func checkNamespaceObject(o *Object) error {
	n := o.Namespace
	bad := func(path, reason string, a ...any) error {
		return &ManifestError{Doc: o.Doc, Object: "Namespace " + n.Name, Path: path, Reason: fmt.Sprintf(reason, a...)}
	}
	if n.Namespace != "" {
		o.Warnings = append(o.Warnings, "metadata.namespace: ignored: a Namespace is in none")
	}
	n.Namespace = "default" // checked as the others' metadata, then none
	if err := checkMeta(bad, n.Name, content.IsDNS1123Label, "DNS-1123 label", &n.Namespace, n.Labels); err != nil {
		return err
	}
	n.Namespace = ""
	if v, ok := n.Labels[NamespaceLabel]; ok && v != n.Name {
		o.Warnings = append(o.Warnings, fmt.Sprintf("metadata.labels.%s: %q replaced by %q, the namespace's name, as the API server sets it", NamespaceLabel, v, n.Name))
	}
	if len(n.Spec.Finalizers) > 0 {
		o.Warnings = append(o.Warnings, "spec.finalizers: not used by netlab (nothing holds a namespace back)")
	}
	if n.Status.Phase != "" || len(n.Status.Conditions) > 0 {
		o.Warnings = append(o.Warnings, "status: ignored, as the API server ignores it in a manifest")
	}
	return nil
}
