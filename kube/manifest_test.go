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
		// IP families, as the API server's validation refuses them.
		{svc("{ipFamilies: [IPv4, IPv6, IPv4], ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}"), "spec.ipFamilies: 3 families: at most two"},
		{svc("{ipFamilies: [IPv5], ports: [{port: 80}]}"), `spec.ipFamilies[0]: "IPv5": IPv4 or IPv6`},
		{svc("{ipFamilies: [IPv6, IPv6], ipFamilyPolicy: RequireDualStack, ports: [{port: 80}]}"), `spec.ipFamilies[1]: Duplicate value: "IPv6"`},
		{svc("{ipFamilyPolicy: DualStack, ports: [{port: 80}]}"), `spec.ipFamilyPolicy: "DualStack": SingleStack, PreferDualStack or RequireDualStack`},
		{svc("{ipFamilyPolicy: SingleStack, ipFamilies: [IPv4, IPv6], ports: [{port: 80}]}"), "spec.ipFamilyPolicy: SingleStack: must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"},
		{svc("{clusterIP: fd00:10:96::20, clusterIPs: [fd00:10:96::21], ports: [{port: 80}]}"), `spec.clusterIPs[0]: "fd00:10:96::21" must be the clusterIP`},
		{svc("{clusterIP: fd00:10:97::20, ports: [{port: 80}]}"), "spec.clusterIP: fd00:10:97::20 is outside the service range fd00:10:96::/112"},
		{svc("{clusterIP: 'fd00:10:96::', ports: [{port: 80}]}"), "spec.clusterIP: fd00:10:96:: is the service range's network"},
		{svc("{clusterIPs: [10.96.0.20, 10.96.0.21], ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}"), "spec.clusterIPs[1]: 10.96.0.21: the two cluster IPs must be of two families"},
		{svc("{clusterIPs: [10.96.0.20, fd00:10:96::20], ipFamilies: [IPv6, IPv4], ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}"), "spec.clusterIPs[0]: 10.96.0.20 is IPv4, but spec.ipFamilies[0] is IPv6"},
		{svc("{clusterIPs: [None, 10.96.0.20], ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}"), "spec.clusterIPs[0]: None (headless) must be the only address"},
		{svc("{clusterIPs: [10.96.0.20, fd00:10:96::20, 10.96.0.21], ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}"), "spec.clusterIPs: 3 addresses: at most two"},
		{svc("{clusterIP: 'fe80::1%eth0', ports: [{port: 80}]}"), `spec.clusterIP: "fe80::1%eth0" is not an IP address`},
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
	netpol, _ := filepath.Glob("../examples/netpol/*.yaml")
	require.NotEmpty(t, netpol)
	files = append(append(files, more...), netpol...)
	require.NotEmpty(t, files)
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.IsDir() {
			continue
		}
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		// examples/ holds topology files too: a manifest says its kind.
		if strings.Contains(string(data), "kind") {
			_, err = Parse(data)
			assert.NoError(t, err, f)
		}
	}
}

// TestHostileManifests: whatever reaches the runtime's spec or a path
// from a manifest has passed Kubernetes' own validation. Each of these was
// accepted once; a namespace with a newline added lines to the spec the
// workload runtime reads (a docker-proxy on node1:7777, a second server).
func TestHostileManifests(t *testing.T) {
	pod := func(meta, spec string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: " + meta + "\nspec: " + spec + "\n"
	}
	ok := "{containers: [{name: web, image: 'netlab/web:red'}]}"
	dep := func(name, ns string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + ", namespace: " + ns + "}\n" +
			"spec: {selector: {matchLabels: {app: a}}, template: {metadata: {labels: {app: a}}, spec: " + ok + "}}\n"
	}
	for _, tc := range []struct{ in, want string }{
		{pod(`{name: p, namespace: "x\n- /run/netns/n docker-proxy 10.244.1.2 node1 proxy 7777 80"}`, ok), `metadata.namespace: "x\n- /run/netns/n`},
		{pod(`{name: p, namespace: "x/../../../tmp/evil"}`, ok), `metadata.namespace: "x/../../../tmp/evil" is not a namespace name`},
		{pod(`{name: p, namespace: "Default"}`, ok), `metadata.namespace: "Default" is not a namespace name`},
		{pod(`{name: "p q"}`, ok), `metadata.name: "p q" is not a DNS-1123 label`},
		{pod(`{name: p, labels: {"app": "a\nb"}}`, ok), `metadata.labels.app: "a\nb" is not a label value`},
		{pod(`{name: p, labels: {"a b": c}}`, ok), `metadata.labels.a b: "a b" is not a label key`},
		{pod(`{name: p}`, "{containers: [{image: 'netlab/web:red'}]}"), "spec.containers[0].name: required"},
		{pod(`{name: p}`, "{containers: [{name: \"w\\n\", image: 'netlab/web:red'}]}"), `spec.containers[0].name: "w\n" is not a DNS-1123 label`},
		{pod(`{name: p}`, "{containers: [{name: w, image: 'netlab/web:red'}, {name: w, image: 'netlab/web:red', ports: [{containerPort: 81}]}]}"), `spec.containers[1].name: Duplicate value: "w"`},
		{pod(`{name: p}`, "{containers: [{name: w, image: 'netlab/web:red', ports: [{name: 'a b', containerPort: 80}]}]}"), `spec.containers[0].ports[0].name: "a b" is not a port name`},
		{pod(`{name: p}`, "{containers: [{name: w, image: 'netlab/web:red', ports: [{name: http, containerPort: 80}, {name: http, containerPort: 81}]}]}"), `ports[1].name: Duplicate value: "http"`},
		{pod(`{name: p}`, "{containers: [{name: w, image: 'netlab/web:red', readinessProbe: {httpGet: {path: \"/x\\r\\nHost: evil\", port: 80}}}]}"), `readinessProbe.httpGet.path: "/x\r\nHost: evil" is not a request path`},
		{pod(`{name: p}`, "{containers: [{name: w, image: 'netlab/web:red', readinessProbe: {timeoutSeconds: -1, tcpSocket: {port: 80}}}]}"), "readinessProbe.timeoutSeconds: -1: must be greater than or equal to 0"},
		{pod(`{name: p}`, "{containers: [{name: w, image: 'netlab/web:red', readinessProbe: {failureThreshold: -3, tcpSocket: {port: 80}}}]}"), "readinessProbe.failureThreshold: -3"},
		{dep("a23456789012345678901234567890123456789012345678901", "default"), `metadata.name: "a23456789012345678901234567890123456789012345678901" has 51 characters: at most 46`},
		{dep("ok", "\"a\\nb\""), `metadata.namespace: "a\nb" is not a namespace name`},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: 'x y'}\nspec: {ports: [{port: 80}]}\n", `metadata.namespace: "x y" is not a namespace name`},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{name: a, port: 80}, {name: b, port: 80}]}\n", "spec.ports[1]: Duplicate value: port 80/TCP is used twice"},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.96.0.0, ports: [{port: 80}]}\n", "10.96.0.0 is the service range's network or broadcast address"},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.111.255.255, ports: [{port: 80}]}\n", "10.111.255.255 is the service range's network or broadcast address"},
	} {
		_, err := Parse([]byte(tc.in))
		if assert.Error(t, err, tc.in) {
			assert.Contains(t, err.Error(), tc.want, tc.in)
			var me *ManifestError
			assert.ErrorAs(t, err, &me, "a bad manifest is a ManifestError (exit 2)")
		}
	}
	// The longest Deployment name allowed gives pods of exactly 63.
	_, err := Parse([]byte(dep(strings.Repeat("a", MaxDeploymentName), "default")))
	assert.NoError(t, err)
	// UDP and TCP on one port are two ports.
	_, err = Parse([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: dns}\nspec: {ports: [{name: a, port: 53, protocol: UDP}, {name: b, port: 53}]}\n"))
	assert.NoError(t, err)
}
