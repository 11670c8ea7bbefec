package probe

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePing(t *testing.T) {
	ok := `PING 172.17.0.3 (172.17.0.3) 56(84) bytes of data.
64 bytes from 172.17.0.3: icmp_seq=1 ttl=64 time=0.061 ms

--- 172.17.0.3 ping statistics ---
1 packets transmitted, 1 received, 0% packet loss, time 0ms
rtt min/avg/max/mdev = 0.061/0.061/0.061/0.000 ms
`
	r, err := ParsePing(ok)
	require.NoError(t, err)
	assert.True(t, r.OK())
	assert.Equal(t, 1, r.Sent)
	assert.Equal(t, 0.061, r.RTTms)

	unreachable := `PING 172.17.0.4 (172.17.0.4) 56(84) bytes of data.
From 172.17.0.2 icmp_seq=1 Destination Host Unreachable

--- 172.17.0.4 ping statistics ---
2 packets transmitted, 0 received, +1 errors, 100% packet loss, time 1001ms
`
	r, err = ParsePing(unreachable)
	require.NoError(t, err)
	assert.False(t, r.OK())
	assert.Equal(t, 2, r.Sent)
	assert.Equal(t, []string{"From 172.17.0.2 icmp_seq=1 Destination Host Unreachable"}, r.Errors)

	r, err = ParsePing("ping: connect: Network is unreachable\n")
	require.NoError(t, err)
	assert.False(t, r.OK())
	assert.Equal(t, []string{"ping: connect: Network is unreachable"}, r.Errors)

	r, err = ParsePing("ping: sendmsg: No route to host\n")
	require.NoError(t, err)
	assert.False(t, r.OK())

	// Ping that could not run is no answer, never "unreachable".
	for _, out := range []string{
		"Segmentation fault\n",
		"ping: socket: Operation not permitted\n",
		"ping: nosuchhost: Name or service not known\n",
		"Cannot open network namespace \"x\": No such file or directory\n",
		"ping: invalid argument: 'abc'\n",
	} {
		_, err = ParsePing(out)
		assert.ErrorContains(t, err, "ping could not run", out)
	}
}

func TestParseTraceroute(t *testing.T) {
	out := `traceroute to 192.168.56.1 (192.168.56.1), 5 hops max, 60 byte packets
 1  172.17.0.1  0.990 ms
 2  *
 3  192.168.56.1  0.842 ms
`
	hops, err := ParseTraceroute(out)
	require.NoError(t, err)
	assert.Equal(t, []Hop{{1, "172.17.0.1"}, {2, ""}, {3, "192.168.56.1"}}, hops)
	_, err = ParseTraceroute("traceroute: unknown host\n")
	assert.Error(t, err)
}
