package names

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckLabName(t *testing.T) {
	for _, ok := range []string{"docker", "overlay", "a", "lab-2", "abcdefghijklmnop"} {
		assert.NoError(t, CheckLabName(ok), ok)
	}
	for bad, why := range map[string]string{
		"":                  "must not be empty",
		"Docker":            "lowercase",
		"my_lab":            "lowercase",
		"lab-":              "not ending with '-'",
		"2lab":              "starting with a letter",
		"a/b":               "lowercase",
		"abcdefghijklmnopq": "at most 16",
	} {
		err := CheckLabName(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), why, bad)
		assert.Contains(t, err.Error(), "--lab", "the message names the flag")
	}
	assert.Contains(t, CheckLabName("abcdefghijklmnopq").Error(), "NETLAB-ABCDEFGHIJKLMNOPQ-DNAT")
}

func TestMarkers(t *testing.T) {
	m := Marker("docker", "c1")
	assert.Equal(t, "netlab:docker:c1", m)
	l, ok := LabOfMarker(m)
	assert.True(t, ok)
	assert.Equal(t, "docker", l)
	assert.True(t, strings.HasPrefix(m, MarkerPrefix("docker")))
	assert.False(t, strings.HasPrefix(Marker("docker-b", "c1"), MarkerPrefix("docker")), "lab docker never claims docker-b's objects")
	_, ok = LabOfMarker("docker0")
	assert.False(t, ok)
	for _, n := range []string{"veth-c4000", "br-underlay", "docker0", "flannel.1"} {
		assert.NoError(t, CheckIfName(n))
	}
	assert.Error(t, CheckIfName("sixteen-bytes-xx"))
}

func TestMarkedRule(t *testing.T) {
	line := `-A KUBE-SERVICES -d 10.96.0.10/32 -m comment --comment "kube-system/kube-dns:dns cluster IP" -m comment --comment "netlab:a kube-proxy" -j KUBE-SVC-X`
	assert.True(t, MarkedRule(line, "a"))
	assert.False(t, MarkedRule(line, "a-b"), "lab a-b's comment is not lab a's")
	assert.False(t, MarkedRule(strings.Replace(line, "netlab:a ", "netlab:a-b ", 1), "a"))
	assert.True(t, MarkedRule(`-A X -m comment --comment "netlab:a" -j RETURN`, "a"))
	assert.False(t, MarkedRule(`-A X -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`, "a"))
	assert.Equal(t, "a", RuleLab(line))
	assert.Equal(t, "a-b", RuleLab(`-A X -m comment --comment "netlab:a-b" -j RETURN`))
	assert.Equal(t, "", RuleLab(`-A X -m comment --comment "kubernetes" -j RETURN`))
}
