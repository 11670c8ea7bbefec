package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSeedService: the seed's Service JSON, as the seed wrote it, reads
// as a Service of its selector and port.
func TestSeedService(t *testing.T) {
	data, err := os.ReadFile("../examples/my-service.json")
	require.NoError(t, err)
	objs, err := Parse(data)
	require.NoError(t, err)
	require.Len(t, objs, 1)
	s := objs[0].Service
	require.NotNil(t, s)
	assert.Equal(t, "my-service", s.Name)
	assert.Equal(t, "default", s.Namespace)
	assert.Equal(t, map[string]string{"app": "MyApp"}, s.Spec.Selector)
	assert.EqualValues(t, 80, s.Spec.Ports[0].Port)
	assert.EqualValues(t, 9376, s.Spec.Ports[0].TargetPort.IntVal)
	assert.Equal(t, "Service/default/my-service", objs[0].Name())
}

func TestParseDocuments(t *testing.T) {
	objs, err := Parse([]byte(`
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}, {name: https, port: 443, protocol: TCP}]
---
# an empty document is skipped
---
apiVersion: v1
kind: List
items:
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "netlab/web:red"}]}}}}
- {apiVersion: v1, kind: Pod, metadata: {name: one}, spec: {containers: [{name: web, image: "netlab/web:blue"}]}}
`))
	require.NoError(t, err)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind()+" "+o.Doc)
	}
	assert.Equal(t, []string{"Service document 1", "Deployment document 3, items[0]", "Pod document 3, items[1]"}, kinds)
}

// TestBadManifests: each is refused with the document, the field path and
// the reason.
func TestBadManifests(t *testing.T) {
	svc := func(spec string) string {
		return "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: " + spec + "\n"
	}
	for _, tc := range []struct{ in, want string }{
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "document 1: kind: v1 ConfigMap: netlab applies"},
		{"kind: Service\n", "document 1: apiVersion: missing"},
		{svc("{ports: [{port: 80, bogus: 1}]}"), `document 1: spec.ports[0].bogus: unknown field "spec.ports[0].bogus"`},
		{svc("{ports: [{port: 80}], ports: [{port: 81}]}"), `key "ports" already set`},
		{svc("{ports: [{port: 70000}]}"), "document 1 (Service s): spec.ports[0].port: 70000: from 1 to 65535"},
		{svc("{ports: [{port: 0}]}"), "spec.ports[0].port: 0: from 1 to 65535"},
		{svc("{ports: [{port: 80}, {port: 81}]}"), "spec.ports[0].name: required when a Service has several ports"},
		{svc("{ports: [{port: 80, nodePort: 30080}]}"), `spec.ports[0].nodePort: may not be used when type is "ClusterIP"`},
		{svc("{type: NodePort, ports: [{port: 80, nodePort: 80}]}"), "spec.ports[0].nodePort: 80: from 30000 to 32767"},
		{svc("{type: LoadBalancer, ports: [{port: 80}]}"), `spec.type: "LoadBalancer": netlab implements ClusterIP and NodePort`},
		{svc("{externalIPs: [1.2.3.4], ports: [{port: 80}]}"), "spec.externalIPs: netlab does not implement it"},
		{svc("{clusterIP: 192.168.1.1, ports: [{port: 80}]}"), "spec.clusterIP: 192.168.1.1 is outside the service range 10.96.0.0/12"},
		{svc("{ports: [{port: 80, protocol: SCTP}]}"), `spec.ports[0].protocol: "SCTP": TCP or UDP`},
		{svc("{sessionAffinity: Sticky, ports: [{port: 80}]}"), `spec.sessionAffinity: "Sticky"`},
		{svc("{ports: []}"), "spec.ports: required"},
		{svc("{selector: {'bad key!': x}, ports: [{port: 80}]}"), "spec.selector.bad key!"},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\nspec: {ports: [{port: 80}]}\n", "metadata.name: \"Bad_Name\" is not a DNS-1035 label"},
		{"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: ok}, spec: {ports: [{port: 80}]}}\n- {apiVersion: v1, kind: Service, metadata: {name: Bad_Name}, spec: {ports: [{port: 80}]}}\n",
			"document 1, items[1] (Service Bad_Name): metadata.name"},
		{"a: [unclosed\n", "document 1: not valid YAML or JSON"},
		{"\n---\n", "no manifest in it"},
	} {
		_, err := Parse([]byte(tc.in))
		if assert.Error(t, err, tc.in) {
			assert.Contains(t, err.Error(), tc.want, tc.in)
		}
	}
}

// TestExamplesParse: every manifest shipped with netlab reads.
func TestExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../docs/examples/*.yaml")
	more, _ := filepath.Glob("../examples/*")
	files = append(files, more...)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		// examples/ holds topology files too: a manifest says its kind.
		if strings.Contains(string(data), "kind") {
			_, err = Parse(data)
			assert.NoError(t, err, f)
		}
	}
}
