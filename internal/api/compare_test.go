package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRowAndVerdictJSON: the cells and results are keys of their row and
// verdict, as scripts read them, and read back to the same.
func TestRowAndVerdictJSON(t *testing.T) {
	rtt := 0.05
	r := Row{ID: "same_node", Question: "q", Cells: map[string]*Cell{
		"docker":     {Reachable: true, From: "c1 172.17.0.2", RTTms: &rtt},
		"kubernetes": {Reachable: false},
	}}
	data, err := json.Marshal(r)
	require.NoError(t, err)
	var keys map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &keys))
	assert.ElementsMatch(t, []string{"id", "question", "docker", "kubernetes"}, mapKeys(keys))
	var back Row
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, r, back)

	v := Verdict{ID: "no_nat", Requirement: "req", Results: map[string]string{"docker": "FAIL", "kubernetes": "PASS"},
		Evidence: map[string]Evidence{"docker": {Sent: "s", Reported: "r"}}}
	data, err = json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"no_nat","requirement":"req","docker":"FAIL","kubernetes":"PASS","evidence":{"docker":{"sent":"s","reported":"r"}}}`, string(data))
	var vb Verdict
	require.NoError(t, json.Unmarshal(data, &vb))
	assert.Equal(t, v, vb)
	assert.Error(t, json.Unmarshal([]byte(`{"id": 3}`), &vb), "a wrong type is an error")
}

// TestSortedColumns: docker, kubernetes, hostgw, then the rest by name.
func TestSortedColumns(t *testing.T) {
	assert.Equal(t, []string{"docker", "kubernetes", "hostgw", "a", "z"},
		SortedColumns(map[string]int{"z": 1, "hostgw": 1, "a": 1, "kubernetes": 1, "docker": 1}))
}

func mapKeys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
