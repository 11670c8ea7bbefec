package podruntime

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSpecLine: the lines the runtime reads, and every field it cannot
// carry refused whoever the caller, before a line is made.
func TestSpecLine(t *testing.T) {
	ip := netip.MustParseAddr("10.244.1.2")
	ok := Line{Netns: "/run/netns/overlay-pod1", Name: "pod1", IP: ip, Node: "node1", Kind: Pod, Port: 9376}
	got, err := ok.Encode()
	require.NoError(t, err)
	assert.Equal(t, "/run/netns/overlay-pod1 pod1 10.244.1.2 node1 pod 9376\n", got)
	img := Line{Netns: "/run/netns/x", Name: "web-1", IP: ip, Node: "node1", Kind: Image, Port: 80, Seventh: "red"}
	got, err = img.Encode()
	require.NoError(t, err)
	assert.Equal(t, "/run/netns/x web-1 10.244.1.2 node1 image 80 red\n", got)
	proxy := Line{Netns: "-", Name: "docker-proxy", IP: ip, Node: "node1", Kind: Proxy, Port: 8080, Seventh: "80"}
	got, err = proxy.Encode()
	require.NoError(t, err)
	assert.Equal(t, "- docker-proxy 10.244.1.2 node1 proxy 8080 80\n", got)

	for _, tc := range []struct {
		mod  func(*Line)
		want string
	}{
		{func(l *Line) { l.Netns = "/run/netns/x\n- docker-proxy 10.0.0.1 node1 proxy 7777 80" }, `namespace path: "/run/netns/x\n- docker-proxy`},
		{func(l *Line) { l.Name = "a b" }, `name: "a b" holds ' '`},
		{func(l *Line) { l.Name = "a\tb" }, `holds '\t'`},
		{func(l *Line) { l.Name = "a\x00b" }, `holds '\x00'`},
		{func(l *Line) { l.Name = "pod\u00e9" }, "printable ASCII"},
		{func(l *Line) { l.Name = strings.Repeat("p", 64) }, "name: 64 bytes, the runtime takes at most 63"},
		{func(l *Line) { l.Netns = strings.Repeat("n", 512) }, "namespace path: 512 bytes"},
		{func(l *Line) { l.Node = "" }, "node: empty"},
		{func(l *Line) { l.IP = netip.Addr{} }, "no address"},
		{func(l *Line) { l.Port = 0 }, "port 0 is not from 1 to 65535"},
		{func(l *Line) { l.Port = 70000 }, "port 70000"},
		{func(l *Line) { l.Kind = "shell" }, `unknown kind "shell"`},
		{func(l *Line) { l.Seventh = "extra" }, "takes no seventh field"},
	} {
		l := ok
		tc.mod(&l)
		_, err := l.Encode()
		if assert.Error(t, err, "%+v", l) {
			assert.Contains(t, err.Error(), tc.want)
		}
		_, err = Spec([]Line{ok, l})
		assert.Error(t, err, "one bad line refuses the spec")
	}
	bad := img
	bad.Seventh = "red blue"
	_, err = bad.Encode()
	assert.ErrorContains(t, err, "image tag")
}
