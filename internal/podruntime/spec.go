// Package podruntime writes down, once, the protocol between netlab and its
// workload runtime (netlab-pod, internal/podruntime/netlabpod/netlab_pod.c): the spec line
// that tells the runtime what to run.
//
// The runtime reads its spec on standard input, one workload a line, the
// fields separated by single spaces:
//
//	NETNS_PATH NAME IP NODE KIND PORT [SEVENTH]
//
// A line-based protocol is only as safe as its fields: a name holding a
// newline would be two lines, the second one anything its author wrote (a
// docker-proxy relaying a node's port, a server in another namespace). So
// every field is checked here, whoever the caller, before a line is made:
// no space, no control character, not empty, and no longer than the
// runtime's buffer for it. The runtime checks the same again (its parser
// refuses a line with a field too long or one field too many), so neither
// side trusts the other.
package podruntime

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Kinds of workload the runtime runs.
const (
	Web   = "web"   // one web server (a container, the outside host)
	Pod   = "pod"   // "app" and "sidecar", sharing the pod's namespace
	Image = "image" // a manifest's container, netlab/web:TAG (Seventh)
	// ImageUDP is a manifest's container serving UDP: each datagram on
	// Port gets its answer as one datagram.
	ImageUDP = "image-udp"
	Proxy    = "proxy" // docker-proxy in the node's namespace on 0.0.0.0 (Seventh: the target port)
	// Proxy6 is docker-proxy on the node's IPv6 addresses ([::]), relaying
	// to IP of either family; none where the node has no IPv6 and IP is
	// IPv4.
	Proxy6 = "proxy6"
	// Reserve is dockerd's hold on a published port without docker-proxy:
	// listening in the node's namespace (0.0.0.0), never accepting;
	// Reserve6 on [::].
	Reserve  = "reserve"
	Reserve6 = "reserve6"
)

// Field limits: the sizes of the runtime's buffers less their NUL
// (struct workload in netlab_pod.c).
const (
	MaxNetns = 511
	MaxField = 63
	MaxKind  = 15
	MaxLine  = 1023
)

// Line is one workload of a runtime's spec.
type Line struct {
	// Netns is the path of the namespace to enter ("-": the runtime's own).
	Netns string
	Name  string
	IP    netip.Addr
	Node  string
	Kind  string
	Port  int
	// Seventh is the image's tag (Image) or the target port (Proxy).
	Seventh string
}

// Encode returns the line, newline included, or why it cannot be one.
func (l Line) Encode() (string, error) {
	if !l.IP.IsValid() {
		return "", fmt.Errorf("spec of %q: no address", l.Name)
	}
	fields := []struct {
		what, v string
		max     int
	}{
		{"namespace path", l.Netns, MaxNetns},
		{"name", l.Name, MaxField},
		{"address", l.IP.String(), MaxField},
		{"node", l.Node, MaxField},
		{"kind", l.Kind, MaxKind},
		{"port", strconv.Itoa(l.Port), MaxField},
	}
	switch l.Kind {
	case Web, Pod, Reserve, Reserve6:
		if l.Seventh != "" {
			return "", fmt.Errorf("spec of %q: a %s takes no seventh field", l.Name, l.Kind)
		}
	case Image, ImageUDP, Proxy, Proxy6:
		fields = append(fields, struct {
			what, v string
			max     int
		}{map[string]string{Image: "image tag", ImageUDP: "image tag", Proxy: "target port", Proxy6: "target port"}[l.Kind], l.Seventh, MaxField})
	default:
		return "", fmt.Errorf("spec of %q: unknown kind %q", l.Name, l.Kind)
	}
	if l.Port < 1 || l.Port > 65535 {
		return "", fmt.Errorf("spec of %q: port %d is not from 1 to 65535", l.Name, l.Port)
	}
	vs := make([]string, 0, len(fields))
	for _, f := range fields {
		if err := CheckField(f.v, f.max); err != nil {
			return "", fmt.Errorf("spec of %q: %s: %w", l.Name, f.what, err)
		}
		vs = append(vs, f.v)
	}
	line := strings.Join(vs, " ") + "\n"
	if len(line) > MaxLine {
		return "", fmt.Errorf("spec of %q: a line of %d bytes (the runtime reads at most %d)", l.Name, len(line), MaxLine)
	}
	return line, nil
}

// CheckField says why v cannot be a field of a spec line: empty, longer
// than max bytes, or holding a space, a control character or a byte that
// is not printable ASCII.
func CheckField(v string, max int) error {
	if v == "" {
		return fmt.Errorf("empty")
	}
	if len(v) > max {
		return fmt.Errorf("%d bytes, the runtime takes at most %d", len(v), max)
	}
	for i := 0; i < len(v); i++ {
		if b := v[i]; b <= ' ' || b >= 0x7f {
			return fmt.Errorf("%q holds %q: a spec field is printable ASCII without spaces", v, b)
		}
	}
	return nil
}

// Spec encodes lines into a runtime's spec, or says which one cannot be.
func Spec(lines []Line) (string, error) {
	var b strings.Builder
	for _, l := range lines {
		s, err := l.Encode()
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}
