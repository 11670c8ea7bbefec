package trace

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"netlab/internal/api"
	"netlab/internal/who"
)

// TestConfirmEnd: the walk's last packet is held to what the server that
// answered saw, both addresses; a server the walk does not end in (a
// proxy passed the connection on) is not compared.
func TestConfirmEnd(t *testing.T) {
	tr := api.Trace{Outcome: "delivered", DeliveredTo: "pod3",
		Hops: []api.Hop{{Host: "pod3", Packet: "192.168.56.1:40000 → 10.244.2.2:9376 tcp"}}}
	assert.Empty(t, confirmEnd(tr, &who.Answer{Name: "pod3", IP: "10.244.2.2", Client: "192.168.56.1"}))
	assert.Empty(t, confirmEnd(tr, nil), "no answer, nothing to compare")
	assert.Empty(t, confirmEnd(tr, &who.Answer{Name: "c1", IP: "172.17.0.2", Client: "172.17.0.1"}), "another server answered")
	assert.Empty(t, confirmEnd(tr, &who.Answer{Name: "d3", IP: "10.244.2.9", Client: "10.244.1.0"}), "pod3 is not d3, though it ends so")

	d := confirmEnd(tr, &who.Answer{Name: "pod3", IP: "10.244.2.2", Client: "10.244.1.0"})
	assert.Equal(t, []string{"pod3: the walk delivers the packet from 192.168.56.1, but pod3 saw it come from 10.244.1.0"}, d)
	d = confirmEnd(tr, &who.Answer{Name: "pod3", IP: "10.244.2.9", Client: "192.168.56.1"})
	assert.Equal(t, []string{"pod3: the walk delivers the packet to 10.244.2.2, but pod3 answered as 10.244.2.9"}, d)

	// IPv6: the hop's packet spells its addresses in brackets.
	tr6 := api.Trace{Outcome: "delivered", DeliveredTo: "pod3",
		Hops: []api.Hop{{Host: "pod3", Packet: "[fd00:56::1]:40000 → [fd00:10:244:2::2]:9376 tcp"}}}
	assert.Empty(t, confirmEnd(tr6, &who.Answer{Name: "pod3", IP: "fd00:10:244:2::2", Client: "fd00:56::1"}))
	d = confirmEnd(tr6, &who.Answer{Name: "pod3", IP: "fd00:10:244:2::2", Client: "fd00:10:244:2::1"})
	assert.Equal(t, []string{"pod3: the walk delivers the packet from fd00:56::1, but pod3 saw it come from fd00:10:244:2::1"}, d)

	tr.Outcome = "dropped"
	assert.Empty(t, confirmEnd(tr, &who.Answer{Name: "pod3", Client: "10.244.1.0"}), "a dropped walk is judged elsewhere")
}
