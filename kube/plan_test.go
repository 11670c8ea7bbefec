package kube

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlanConflicts: what only the cluster, or the rest of the input,
// shows to be wrong is refused before anything changes, as the API server
// refuses the object that comes second.
func TestPlanConflicts(t *testing.T) {
	st := Store{
		Services: []Service{{Namespace: "default", Name: "taken", Type: "NodePort", ClusterIP: netip.MustParseAddr("10.96.0.50"),
			Ports: []Port{{Protocol: "TCP", Port: 80, TargetPort: 80, NodePort: 30200}}}},
		Deployments: []Deployment{{Namespace: "default", Name: "web", Selector: map[string]string{"app": "web"}}},
		Pods: []Pod{{Namespace: "default", Name: "solo", Template: PodTemplate{Containers: []Container{{Name: "web", Tag: "red"}}}},
			{Namespace: "default", Name: "web-abc", Owner: "default/web", Template: PodTemplate{Labels: map[string]string{"app": "web"}, Containers: []Container{{Name: "w", Tag: "x"}}}}},
	}
	svc := func(name, spec string) string {
		return "{apiVersion: v1, kind: Service, metadata: {name: " + name + "}, spec: " + spec + "}"
	}
	list := func(items ...string) string {
		s := "apiVersion: v1\nkind: List\nitems:\n"
		for _, it := range items {
			s += "- " + it + "\n"
		}
		return s
	}
	for _, tc := range []struct{ in, want string }{
		{list(svc("a", "{clusterIP: 10.96.0.77, ports: [{port: 80}]}"), svc("b", "{clusterIP: 10.96.0.77, ports: [{port: 80}]}")),
			"items[1] (Service b): spec.clusterIP: 10.96.0.77 is already allocated to default/a"},
		{list(svc("a", "{type: NodePort, ports: [{port: 80, nodePort: 30111}]}"), svc("b", "{type: NodePort, ports: [{port: 80, nodePort: 30111}]}")),
			"items[1] (Service b): spec.ports[0].nodePort: 30111: provided port is already allocated (to default/a)"},
		{list(svc("c", "{type: NodePort, ports: [{port: 80, nodePort: 30200}]}")), "spec.ports[0].nodePort: 30200: provided port is already allocated (to default/taken)"},
		{list(svc("c", "{clusterIP: 10.96.0.50, ports: [{port: 80}]}")), "spec.clusterIP: 10.96.0.50 is already allocated to default/taken"},
		{list(svc("d", "{clusterIP: 10.96.0.10, ports: [{port: 53}]}")), "spec.clusterIP: 10.96.0.10 is already allocated to kube-system/kube-dns"},
		{list(svc("taken", "{clusterIP: 10.96.0.51, type: NodePort, ports: [{port: 80}]}")), "spec.clusterIP: field is immutable (it is 10.96.0.50)"},
		{"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {selector: {matchLabels: {app: web2}}, template: {metadata: {labels: {app: web2}}, spec: {containers: [{name: w, image: 'netlab/web:x'}]}}}\n",
			"(Deployment web): spec.selector: field is immutable"},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: solo}\nspec: {containers: [{name: web, image: 'netlab/web:blue'}]}\n", "(Pod solo): spec: Forbidden: pod updates may not change"},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: web-abc, labels: {app: other}}\nspec: {containers: [{name: w, image: 'netlab/web:x'}]}\n",
			"(Pod web-abc): metadata.labels: pod web-abc belongs to deployment web: change the Deployment's template"},
		{list("{apiVersion: v1, kind: Pod, metadata: {name: twice}, spec: {containers: [{name: web, image: 'netlab/web:a'}]}}",
			"{apiVersion: v1, kind: Pod, metadata: {name: twice}, spec: {containers: [{name: web, image: 'netlab/web:b'}]}}"), "items[1] (Pod twice): spec: Forbidden"},
	} {
		objs, err := Parse([]byte(tc.in))
		require.NoError(t, err, tc.in)
		c := &Cluster{Store: st}
		_, err = c.Plan(objs)
		if assert.Error(t, err, tc.in) {
			assert.Contains(t, err.Error(), tc.want)
			var me *ManifestError
			assert.ErrorAs(t, err, &me)
		}
	}
	// The same again is no conflict: a Service keeps its own ClusterIP
	// and NodePort, a Pod applied unchanged is unchanged; a Pod's labels
	// may change, as the API server lets them.
	objs, err := Parse([]byte(list(svc("taken", "{clusterIP: 10.96.0.50, type: NodePort, ports: [{port: 80, nodePort: 30200}]}"),
		"{apiVersion: v1, kind: Pod, metadata: {name: solo, labels: {role: client}}, spec: {containers: [{name: web, image: 'netlab/web:red'}]}}")))
	require.NoError(t, err)
	_, err = (&Cluster{Store: st}).Plan(objs)
	assert.NoError(t, err)
}

// TestOldGoing: a rollout's step removes unready old pods first, and
// Ready ones only while minAvailable stay available.
func TestOldGoing(t *testing.T) {
	olds := []Pod{{Name: "a", Ready: true}, {Name: "b"}, {Name: "c", Ready: true}}
	names := func(ps []Pod) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	assert.Equal(t, []string{"b"}, names(oldGoing(olds, 0, 2)), "two must stay: only the unready one goes")
	assert.Equal(t, []string{"b", "a"}, names(oldGoing(olds, 1, 2)), "one new is Ready: one old Ready one may go too")
	assert.Equal(t, []string{"b", "a", "c"}, names(oldGoing(olds, 3, 3)), "three new: all old go")
	assert.Equal(t, "a", olds[0].Name, "the caller's slice is left as it was")
}
