package who

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAnswerRoundTrip(t *testing.T) {
	for _, a := range []Answer{
		{Name: "c2", IP: "172.17.0.3", Node: "node1", Client: "172.17.0.2"},
		{Name: "pod3", IP: "10.244.2.2", Node: "node2", Container: "app", Client: "10.244.1.2"},
	} {
		got, err := ParseAnswer(a.Format())
		require.NoError(t, err)
		assert.Equal(t, a, got)
	}
	assert.Equal(t, "name=c2 ip=172.17.0.3 node=node1 client=172.17.0.2\n",
		Answer{Name: "c2", IP: "172.17.0.3", Node: "node1", Client: "172.17.0.2"}.Format())
	_, err := ParseAnswer("<html>nginx</html>")
	assert.ErrorContains(t, err, "not a netlab answer")
}

// TestAsk speaks HTTP/1.0 to a server on loopback that answers as
// netlab-pod does.
func TestAskConn(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1024)
		_, _ = c.Read(buf)
		body := Answer{Name: "c1", IP: "172.17.0.2", Node: "node1", Client: c.RemoteAddr().(*net.TCPAddr).IP.String()}.Format()
		fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}()
	c, err := net.Dial("tcp4", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	a, err := AskConn(c, l.Addr().String())
	require.NoError(t, err)
	assert.Equal(t, Answer{Name: "c1", IP: "172.17.0.2", Node: "node1", Client: "127.0.0.1"}, a)
}
