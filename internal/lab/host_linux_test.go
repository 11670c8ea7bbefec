package lab

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestChecksumFix: on a real node the offload goes off whatever the NIC,
// and the note names the driver when it is known.
func TestChecksumFix(t *testing.T) {
	assert.Equal(t, "the underlay NIC eth1 is a virtual NIC (virtio_net)", checksumFix("eth1", "virtio_net"))
	assert.Equal(t, "a real node, whose underlay NIC eno1 (ixgbe) might not fill it in", checksumFix("eno1", "ixgbe"))
	assert.NotEmpty(t, checksumFix("ens4", ""), "a driver that cannot be read still gets the workaround")
}
