package workshop

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "netlab/bridge"
	"netlab/internal/lab"
	"netlab/internal/topo"
	"netlab/kube"
	_ "netlab/overlay"
)

// TestExercisesAsData: twenty-two exercises, numbered 1..22, each found by
// its number and its id, each with a story, a break, criteria and a fix,
// and its lab's mode the one of its model, resolved with its flags.
func TestExercisesAsData(t *testing.T) {
	require.Len(t, All, 22)
	ids := map[string]bool{}
	for i, x := range All {
		assert.Equal(t, i+1, x.N)
		assert.False(t, ids[x.ID], "id %s twice", x.ID)
		ids[x.ID] = true
		// exercise list promises what users report, never the cause.
		for _, cause := range []string{"masquerade", "snat", "dnat", "nat", "forward", "fdb", "vtep", "mtu", "hairpin", "probability", "reject", "netfilter", "arp", "veth"} {
			for _, w := range strings.FieldsFunc(strings.ToLower(x.ID+" "+x.Title), func(r rune) bool { return !unicode.IsLetter(r) }) {
				assert.NotEqual(t, cause, w, "exercise %d's id or title names its cause: %s, %q", x.N, x.ID, x.Title)
			}
		}
		for _, arg := range []string{x.ID, x.Lab()[len(Prefix):]} {
			got, err := Find(arg)
			require.NoError(t, err, arg)
			assert.Equal(t, x.ID, got.ID)
		}
		back, ok := FromLab(x.Lab())
		assert.True(t, ok)
		assert.Equal(t, x.ID, back.ID)
		assert.NotNil(t, x.Story, x.ID)
		assert.NotNil(t, x.Break, x.ID)
		assert.NotNil(t, x.Solution, x.ID)
		assert.NotEmpty(t, x.Criteria, x.ID)
		switch x.Model {
		case Docker:
			assert.Equal(t, topo.DockerMode, x.Model.Mode(), x.ID)
		case Kubernetes:
			assert.Equal(t, topo.OverlayMode, x.Model.Mode(), x.ID)
		default:
			t.Errorf("%s: model %q", x.ID, x.Model)
		}
		// Its lab is one its model's verb builds, with the flags it names.
		m, ok := lab.ModeNamed(x.Model.Mode())
		require.True(t, ok, x.ID)
		_, plan, err := x.Resolve(m, x.Flags)
		require.NoError(t, err, x.ID)
		assert.NotEmpty(t, plan.Workloads, x.ID)
		if x.Manifests != "" {
			_, err := kube.Parse([]byte(x.Manifests))
			assert.NoError(t, err, "%s's manifests", x.ID)
		}
	}
	_, err := Find("23")
	assert.ErrorContains(t, err, `no exercise "23": there are 1 (`)
	_, ok := FromLab("overlay")
	assert.False(t, ok)
}
