package ipam

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNth(t *testing.T) {
	p := netip.MustParsePrefix("172.17.0.0/16")
	for n, want := range map[uint64]string{1: "172.17.0.1", 2: "172.17.0.2", 255: "172.17.0.255", 256: "172.17.1.0", 65534: "172.17.255.254"} {
		got, err := Nth(p, n)
		require.NoError(t, err)
		assert.Equal(t, want, got.String(), "n=%d", n)
	}
	_, err := Nth(p, 65535)
	assert.ErrorContains(t, err, "65534 usable addresses")
	_, err = Nth(p, 0)
	assert.Error(t, err)
}

func TestSize(t *testing.T) {
	assert.Equal(t, uint64(65534), Size(netip.MustParsePrefix("172.17.0.0/16")))
	assert.Equal(t, uint64(254), Size(netip.MustParsePrefix("10.244.1.0/24")))
	assert.Equal(t, uint64(0), Size(netip.MustParsePrefix("10.0.0.1/32")))
}

func TestHostNumber(t *testing.T) {
	p := netip.MustParsePrefix("172.17.0.0/16")
	for _, a := range []string{"172.17.0.2", "172.17.1.0", "172.17.255.254"} {
		n := HostNumber(p, netip.MustParseAddr(a))
		back, err := Nth(p, n)
		if err != nil || back.String() != a {
			t.Errorf("%s: number %d, back %s (%v)", a, n, back, err)
		}
	}
	p6 := netip.MustParsePrefix("fd00:10:244:1::/64")
	if n := HostNumber(p6, netip.MustParseAddr("fd00:10:244:1::1:7")); n != 0x10007 {
		t.Errorf("IPv6: %#x", n)
	}
}
