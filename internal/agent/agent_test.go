package agent

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAnswerRoundTrip(t *testing.T) {
	a := Answer{Name: "c2", IP: "172.17.0.3", Node: "node1", Client: "172.17.0.2"}
	assert.Equal(t, "name=c2 ip=172.17.0.3 node=node1 client=172.17.0.2\n", a.Format())
	got, err := ParseAnswer(a.Format())
	require.NoError(t, err)
	assert.Equal(t, a, got)
	_, err = ParseAnswer("<html>nginx</html>")
	assert.ErrorContains(t, err, "not a netlab answer")
}

// TestServeAndAsk runs a real server on loopback and asks it.
func TestServeAndAsk(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	ep := Endpoint{Name: "c1", Node: "node1", IP: netip.MustParseAddr("172.17.0.2")}
	go func() { _ = Serve([]Endpoint{ep}, []net.Listener{l}) }()
	defer l.Close()
	c, err := net.Dial("tcp4", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	a, err := Ask(c, l.Addr().String())
	require.NoError(t, err)
	assert.Equal(t, Answer{Name: "c1", IP: "172.17.0.2", Node: "node1", Client: "127.0.0.1"}, a)
}
