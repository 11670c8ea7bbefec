package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/api"
	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/internal/who"
	"netlab/kube"
)

// kubePod is what the tests read of a pod of 'netlab get pods -o json',
// a List of Pods as the API shows them.
type kubePod struct {
	Name  string
	Node  string
	IP    string
	NS    netops.NS
	Ready bool
}

// podsOf reads the Pods of a List, as 'kubectl get pods -o json' prints it.
func podsOf(t *testing.T, data string) []kubePod {
	t.Helper()
	var l struct {
		Kind  string       `json:"kind"`
		Items []corev1.Pod `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(data), &l), data)
	require.Equal(t, "List", l.Kind)
	var out []kubePod
	for _, p := range l.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		out = append(out, kubePod{Name: p.Name, Node: p.Spec.NodeName, IP: p.Status.PodIP, NS: netops.NS(p.Annotations[kube.NetnsAnnotation]), Ready: ready})
	}
	return out
}

func getPods(t *testing.T, labName string) []kubePod {
	t.Helper()
	return podsOf(t, labtest.MustRun(t, "get", "pods", "-o", "json", "--lab", labName).Stdout)
}

// kubeSvc is what the tests read of a Service of 'netlab get service NAME
// -o json', the Service itself as the API shows it.
type kubeSvc struct {
	Name      string
	ClusterIP string
	Ports     []struct{ Port, NodePort int }
}

func serviceOf(t *testing.T, data string) kubeSvc {
	t.Helper()
	var s corev1.Service
	require.NoError(t, json.Unmarshal([]byte(data), &s), data)
	require.Equal(t, "Service", s.Kind)
	out := kubeSvc{Name: s.Name, ClusterIP: s.Spec.ClusterIP}
	for _, p := range s.Spec.Ports {
		out.Ports = append(out.Ports, struct{ Port, NodePort int }{int(p.Port), int(p.NodePort)})
	}
	return out
}

func getService(t *testing.T, labName, name string) kubeSvc {
	t.Helper()
	return serviceOf(t, labtest.MustRun(t, "get", "services", name, "-o", "json", "--lab", labName).Stdout)
}

// nobodyService is a Service whose selector matches no pod: it has no
// endpoints.
const nobodyService = `
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: none}
  ports: [{port: 80}]
`

func manifest(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// TestServices applies the seed's Service and a Deployment of its pods to
// an overlay lab and proves, with real packets, what kube-proxy's rules
// do: every pod and node reaches the ClusterIP, which lands on 9376 of a
// pod of app: MyApp with the client's own address; requests spread over
// the endpoints; a NodePort answers the outside host on every node; a
// Service without endpoints refuses at once; affinity sticks; a pod
// reaches itself through its Service. All of it in both of kube-proxy's
// modes: iptables (KUBE-* chains) and nftables (table kube-proxy).
func TestServices(t *testing.T) {
	labtest.Root(t)
	eachProxyMode(t, testServices)
}

// eachProxyMode runs test once in each of kube-proxy's modes netlab
// builds, as a subtest named after it: what works in one works in the
// other, with real packets.
func eachProxyMode(t *testing.T, test func(t *testing.T, mode string)) {
	for _, mode := range []string{"iptables", "nftables"} {
		t.Run(mode, func(t *testing.T) { test(t, mode) })
	}
}

func testServices(t *testing.T, mode string) {
	name := labtest.NewLab(t, "k")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--proxy-mode", mode)
	r := labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", "../../examples/my-service.json")
	assert.Equal(t, "deployment.apps/myapp created\nservice/my-service created\n", r.Stdout)
	pods := getPods(t, name)
	require.Len(t, pods, 3)
	text := labtest.MustRun(t, "status", "--lab", name).Stdout
	assert.Contains(t, text, "Applied: 1 Deployment, 1 Service, 3 pods, and the cluster DNS")
	// status lists the applied pods and the DNS pod beside the topology's,
	// in its picture, its table and --json.
	var sj api.Status
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "status", "--json", "--lab", name).Stdout), &sj))
	listed := map[string]api.Workload{}
	for _, w := range sj.Workloads {
		listed[w.Name] = w
	}
	for _, p := range pods {
		w, ok := listed[p.Name]
		if assert.True(t, ok, "status --json lists %s", p.Name) {
			assert.Equal(t, api.Workload{Name: p.Name, Kind: "pod", Node: p.Node, Netns: string(p.NS), IP: p.IP, CIDR: w.CIDR,
				Iface: "eth0", HostIface: w.HostIface, Port: 9376, Containers: w.Containers, Applied: true, Namespace: "default",
				Owner: "myapp", Ready: w.Ready}, w)
			assert.True(t, *w.Ready)
			assert.True(t, strings.HasSuffix(w.CIDR, "/24"), w.CIDR)
			assert.Contains(t, text, p.Name+" ", "the text status names %s", p.Name)
		}
	}
	dns := 0
	for _, w := range sj.Workloads {
		if w.System == "dns" {
			dns++
			assert.Equal(t, "kube-system", w.Namespace)
			assert.Equal(t, 53, w.Port)
			assert.Contains(t, text, w.Name)
		}
	}
	assert.Equal(t, 1, dns, "the cluster DNS pod is listed")
	assert.Contains(t, text, "(Deployment myapp)")
	assert.Contains(t, text, "(cluster DNS, kube-system)")
	nodes := map[string]int{}
	ips := map[string]string{}
	for _, p := range pods {
		assert.True(t, p.Ready, p.Name)
		assert.True(t, strings.HasPrefix(p.Name, "myapp-"), p.Name)
		nodes[p.Node]++
		ips[p.IP] = p.Name
	}
	assert.Len(t, nodes, 2, "replicas spread over the nodes")
	svc := getService(t, name, "my-service")
	vip, err := netip.ParseAddr(svc.ClusterIP)
	require.NoError(t, err)
	assert.True(t, kube.ServiceCIDR.Contains(vip))
	to := netip.AddrPortFrom(vip, 80)
	st := readStatus(t, name)

	// From every pod and node: a pod of app: MyApp on 9376 answers, and
	// from a pod, sees the pod's own address.
	for _, w := range st.Workloads {
		if w.Applied {
			continue // an endpoint itself: the hairpin case, below
		}
		a := ask(t, netops.NS(w.Netns), to.String())
		assert.Contains(t, ips, a.IP, "answered by a pod of the Deployment")
		assert.Equal(t, w.IP, a.Client, "%s: no SNAT through a ClusterIP", w.Name)
	}
	for _, n := range []string{"node1", "node2"} {
		ns, _ := st.node(n)
		a := ask(t, ns, to.String())
		assert.Contains(t, ips, a.IP)
	}
	out, err := exec.Command("ip", "netns", "exec", string(pods[0].NS), "true").CombinedOutput()
	require.NoError(t, err, "%s", out)

	// Balancing: 300 requests, each endpoint inside statistical bounds
	// (expected 100 each; 60..140 is about five standard deviations).
	pod1, _ := st.workload("pod1")
	count := map[string]int{}
	for i := 0; i < 300; i++ {
		a, err := who.Ask(pod1, to)
		require.NoError(t, err)
		count[a.Name]++
	}
	assert.Len(t, count, 3, "%v", count)
	for n, c := range count {
		assert.True(t, c >= 60 && c <= 140, "%s got %d of 300", n, c)
	}

	// The rules are kube-proxy's: its chain names, its probabilities (or
	// its numgen), in the tables of the mode.
	n1, _ := st.node("node1")
	save, err := exec.Command("ip", "netns", "exec", string(n1), "iptables-save", "-t", "nat").CombinedOutput()
	require.NoError(t, err)
	sp := kube.ServicePort{Namespace: "default", Name: "my-service", Protocol: "TCP"}
	if mode == "iptables" {
		chain := kube.ServiceChain(sp)
		assert.Contains(t, string(save), ":"+chain+" ")
		assert.Contains(t, string(save), `-A KUBE-SERVICES -d `+svc.ClusterIP+`/32 -p tcp -m comment --comment "default/my-service cluster IP" -m tcp --dport 80`)
		assert.Contains(t, string(save), "-m statistic --mode random --probability 0.3333333")
		assert.Contains(t, string(save), "-j KUBE-MARK-MASQ")
		assert.Contains(t, string(save), `--comment "netlab:`+name+` kube-proxy"`, "every rule says netlab made it")
		_, err := exec.Command("ip", "netns", "exec", string(n1), "nft", "list", "table", "ip", "kube-proxy").CombinedOutput()
		assert.Error(t, err, "no table kube-proxy in iptables mode")
	} else {
		assert.NotContains(t, string(save), "KUBE-", "no KUBE-* chain in nftables mode")
		out, err := exec.Command("ip", "netns", "exec", string(n1), "nft", "list", "table", "ip", "kube-proxy").CombinedOutput()
		require.NoError(t, err, "%s", out)
		listed := string(out)
		chain := kube.NFTServiceChain(sp)
		assert.Contains(t, listed, `comment "rules for kube-proxy (netlab:`+name+`)"`, "the table says netlab made it")
		assert.Contains(t, listed, "chain "+chain+" {")
		assert.Contains(t, listed, svc.ClusterIP+" . tcp . 80 : goto "+chain)
		assert.Regexp(t, `numgen random mod 3 vmap \{ 0 : goto endpoint-[A-Z0-9]{8}-default/my-service/tcp/__10\.244\.`, listed)
		assert.Contains(t, listed, "dnat to "+pods[0].IP+":9376")
	}

	// A NodePort, from the outside host, on every node: the pod sees the
	// node (externalTrafficPolicy Cluster masquerades).
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, `
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: MyApp}
  ports: [{name: http, port: 8080, targetPort: http, nodePort: 30080}]
`))
	outside, _ := st.node("outside")
	for _, n := range []string{"node1", "node2"} {
		_, ip := st.node(n)
		a := ask(t, outside, ip+":30080")
		assert.Contains(t, ips, a.IP, "NodePort on %s", n)
		assert.NotEqual(t, "192.168.56.1", a.Client, "the pod does not see the outside host: the node masqueraded")
		// kube-proxy's localhost NodePort: 127.0.0.1:<nodePort> on the
		// node itself answers (route_localnet lets the DNAT route out),
		// in iptables mode; its nftables mode has none (nodeport-ips
		// holds the node's own address only).
		node, _ := st.node(n)
		if mode == "iptables" {
			l := ask(t, node, "127.0.0.1:30080")
			assert.Contains(t, ips, l.IP, "localhost NodePort on %s", n)
		} else {
			_, err := who.Dial(node, netip.MustParseAddrPort("127.0.0.1:30080"), 3*time.Second)
			require.Error(t, err, "no localhost NodePort in nftables mode")
			assert.Contains(t, err.Error(), "refused")
		}
	}
	// kube-proxy's nfacct counters, where the kernel keeps them (this
	// one does): the rules count into them, and the localhost NodePort
	// counted the connections above. (Its nftables mode has none.)
	if netops.NfacctAvailable(n1) && mode == "iptables" {
		save, err := exec.Command("ip", "netns", "exec", string(n1), "iptables-save").CombinedOutput()
		require.NoError(t, err)
		// (iptables-save prints two spaces after --nfacct-name.)
		assert.Regexp(t, `-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name +ct_state_invalid_dropped_pkts`, string(save))
		assert.Regexp(t, `--dport 30080 -m nfacct --nfacct-name +localhost_nps_accepted_pkts`, string(save))
		list, err := exec.Command("ip", "netns", "exec", string(n1), "nfacct", "list").CombinedOutput()
		require.NoError(t, err, "%s", list)
		assert.Contains(t, string(list), "ct_state_invalid_dropped_pkts")
		assert.Regexp(t, `pkts = 0*[1-9][0-9]*, bytes = [0-9]+ } = localhost_nps_accepted_pkts`, string(list))
	}

	// No endpoints: refused at once, not a timeout.
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, nobodyService))
	empty := getService(t, name, "nobody")
	start := time.Now()
	_, err = who.Dial(pod1, netip.AddrPortFrom(netip.MustParseAddr(empty.ClusterIP), 80), 3*time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused")
	assert.Less(t, time.Since(start), time.Second, "REJECT answers at once")

	// Session affinity: one client, one endpoint.
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, `
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: MyApp}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 9376}]
`))
	sticky := netip.AddrPortFrom(netip.MustParseAddr(getService(t, name, "sticky").ClusterIP), 80)
	first := ""
	for i := 0; i < 20; i++ {
		a, err := who.Ask(pod1, sticky)
		require.NoError(t, err)
		if first == "" {
			first = a.Name
		}
		assert.Equal(t, first, a.Name, "request %d", i)
	}

	// trace walks the affinity rules (iptables' -m recent lists,
	// nftables' dynamic sets) to the endpoint the client sticks to, from
	// a pod and from a node (whose connection leaves from its own
	// address, masqueraded after the DNAT), confirmed by the real packet.
	for _, from := range []string{"pod1", "node2"} {
		tr := runTrace(t, "--lab", name, from, sticky.Addr().String(), "--port", "80")
		assert.True(t, tr.Confirmed, "%s → sticky: %v", from, tr.Disagreements)
	}
	tr := runTrace(t, "--lab", name, "node2", svc.ClusterIP, "--port", "80")
	assert.True(t, tr.Confirmed, "node2 → my-service: %v", tr.Disagreements)
	// A Service without endpoints: the walk ends where kube-proxy's rule
	// rejects it, and the real packet is refused there.
	tr = runTrace(t, "--lab", name, "pod1", empty.ClusterIP, "--port", "80")
	assert.Equal(t, "dropped", tr.Outcome)
	assert.True(t, tr.Confirmed, "%v", tr.Disagreements)
	if mode == "nftables" {
		assert.Contains(t, tr.Hops[len(tr.Hops)-1].Filter, "ip kube-proxy filter-forward REJECT: chain reject-chain: reject")
		assert.Contains(t, strings.Join(tr.Hops[len(tr.Hops)-1].FilterVia, "\n"), "vmap @no-endpoint-services")
	} else {
		assert.Contains(t, tr.Hops[len(tr.Hops)-1].Filter, "has no endpoints")
	}

	// Hairpin: a pod reaches itself through its own Service.
	self := pods[0]
	reached := false
	for i := 0; i < 60 && !reached; i++ {
		a, err := who.Ask(self.NS, to)
		require.NoError(t, err)
		reached = a.Name == self.Name
	}
	assert.True(t, reached, "%s reached itself through %s", self.Name, to)

	// trace through the Service: kube-proxy's choice is random, so the
	// walk follows the endpoint the real packet took, and confirms it.
	for i := 0; i < 4; i++ {
		tr := runTrace(t, "--lab", name, "pod1", svc.ClusterIP, "--port", "80")
		assert.True(t, tr.Confirmed, "%v", tr.Disagreements)
		assert.Empty(t, tr.Expected)
		assert.True(t, strings.HasPrefix(tr.DeliveredTo, "myapp-"), tr.DeliveredTo)
		var dnat string
		for _, h := range tr.Hops {
			for _, r := range h.Rewrite {
				dnat += r.Rule
			}
		}
		if mode == "iptables" {
			assert.Contains(t, dnat, "-j DNAT --to-destination", "the KUBE-SEP rule that rewrote it")
		} else {
			assert.Contains(t, dnat, "dnat to ", "the endpoint chain's rule that rewrote it")
		}
	}

	// Endpoints follow pods: deleting one brings another (its ReplicaSet
	// makes up the count), deleting the Deployment empties the Service.
	labtest.MustRun(t, "delete", "--lab", name, "pod", pods[0].Name)
	after := getPods(t, name)
	require.Len(t, after, 3)
	for _, p := range after {
		assert.NotEqual(t, pods[0].Name, p.Name)
	}
	eps := labtest.MustRun(t, "get", "endpoints", "my-service", "--lab", name).Stdout
	assert.NotContains(t, eps, pods[0].IP+":9376", "a deleted pod is no endpoint")
	labtest.MustRun(t, "delete", "--lab", name, "deployment", "myapp")
	assert.Empty(t, getPods(t, name))
	assert.Contains(t, labtest.MustRun(t, "get", "endpoints", "my-service", "--lab", name).Stdout, "<none>")
	_, err = who.Dial(pod1, to, 3*time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused", "no endpoints: refused")
}

// TestApplyBadManifest: a bad manifest changes nothing and exits 2 with
// the document, the path and the reason.
func TestApplyBadManifest(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "kb")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--nodes", "1")
	for _, tc := range []struct{ text, want string }{
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, bogus: 1}]}\n", `spec.ports[0].bogus`},
		{"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: nginx}]}}}\n",
			`spec.template.spec.containers[0].image: "nginx": netlab runs netlab/web:TAG`},
		{"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: c}}, spec: {containers: [{name: c, image: netlab/web:x}]}}}\n",
			"`selector` does not match template `labels`"},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", "document 2: kind: v1 Secret"},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec: {ports: [{port: 65536}]}\n", "spec.ports[0].port: 65536: from 1 to 65535"},
		{"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: ok}, spec: {ports: [{port: 80}]}}\n- {apiVersion: v1, kind: Service, metadata: {name: bad}, spec: {ports: [{port: 80, nope: 1}]}}\n",
			`document 1, items[1]: spec.ports[0].nope`},
	} {
		r := labtest.Run(t, "apply", "--lab", name, "-f", manifest(t, tc.text))
		assert.Equal(t, 2, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, tc.want)
	}
	assert.Contains(t, labtest.MustRun(t, "get", "services", "--lab", name).Stdout, "NAME", "the table's heading")
	assert.NotContains(t, labtest.MustRun(t, "get", "services", "--lab", name).Stdout, "ok", "nothing of a refused file is applied")
	assert.Empty(t, getPods(t, name))
	// --dry-run prints what apply would run, and changes nothing.
	before := netnsList(t, name)
	dry := labtest.MustRun(t, "apply", "--dry-run", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", "../../examples/my-service.json")
	assert.Contains(t, dry.Stdout, "ip netns add "+name+"-k-default-myapp-")
	assert.Contains(t, dry.Stdout, "KUBE-SVC-FXIYY6OHUSNBITIX")
	assert.Contains(t, dry.Stdout, "# service/my-service created (dry run)")
	assert.Equal(t, before, netnsList(t, name), "a dry run makes no namespace")
	assert.Empty(t, getPods(t, name), "nor a pod")
	assert.NotContains(t, labtest.MustRun(t, "get", "services", "--lab", name).Stdout, "my-service")

	// A selector that matches nothing is a warning, not an error.
	w := labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: lonely}\nspec: {selector: {app: nobody}, ports: [{port: 80}]}\n"))
	assert.Contains(t, w.Stderr, "Warning: document 1 Service/default/lonely: spec.selector: matches no pod (yet)")
	assert.Contains(t, w.Stdout, "service/lonely created")
	r := labtest.Run(t, "apply", "--lab", labtest.Name("none"), "-f", "../../examples/my-service.json")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "is not up")
	d := labtest.NewLab(t, "kd")
	labtest.MustRun(t, "docker-mode", "--lab", d, "--nodes", "1", "--containers", "1")
	r = labtest.Run(t, "apply", "--lab", d, "-f", "../../examples/my-service.json")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "docker-mode lab")
}

// TestEndpointsFollowReadiness: a pod whose server dies leaves its
// Services within a couple of seconds, with no netlab command run: the
// lab's controller probes it and rewrites the rules, and no request
// reaches it afterwards.
func TestEndpointsFollowReadiness(t *testing.T) {
	labtest.Root(t)
	eachProxyMode(t, testEndpointsFollowReadiness)
}

func testEndpointsFollowReadiness(t *testing.T, mode string) {
	name := labtest.NewLab(t, "e")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--proxy-mode", mode)
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", "../../examples/my-service.json")
	pods := getPods(t, name)
	require.Len(t, pods, 3)
	victim := pods[0]
	killPod(t, victim)
	avoidsDeadPod(t, name, victim, 5*time.Second, 60)
}

// killPod kills every process of a pod's namespace, as a crash would.
func killPod(t *testing.T, p kubePod) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", string(p.NS)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, pid := range strings.Fields(string(out)) {
		_ = exec.Command("kill", "-9", pid).Run()
	}
}

// avoidsDeadPod waits (up to wait) until the dead pod victim has left
// my-service's endpoints, then proves the rules followed: n requests from
// pod1 through the ClusterIP all land on live pods.
func avoidsDeadPod(t *testing.T, name string, victim kubePod, wait time.Duration, n int) {
	t.Helper()
	to := netip.AddrPortFrom(netip.MustParseAddr(getService(t, name, "my-service").ClusterIP), 80)
	st := readStatus(t, name)
	pod1, _ := st.workload("pod1")
	for deadline := time.Now().Add(wait); ; time.Sleep(200 * time.Millisecond) {
		eps := labtest.MustRun(t, "get", "endpoints", "my-service", "--lab", name).Stdout
		if !strings.Contains(eps, victim.IP+":9376") {
			break
		}
		require.True(t, time.Now().Before(deadline), "the dead pod is still an endpoint:\n%s", eps)
	}
	// The rules follow the endpoints: every request lands on a live pod.
	time.Sleep(1500 * time.Millisecond)
	for i := range n {
		a, err := who.Ask(pod1, to)
		require.NoError(t, err, "request %d", i)
		assert.NotEqual(t, victim.Name, a.Name)
	}
}

// TestEndpointsFollowPods: endpoints of a Service follow its pods as they
// come and go: {} → {p1} → {p1,p2} → {p2} → {}, and requests land only on
// the pods there are.
func TestEndpointsFollowPods(t *testing.T) {
	labtest.Root(t)
	eachProxyMode(t, testEndpointsFollowPods)
}

func testEndpointsFollowPods(t *testing.T, mode string) {
	name := labtest.NewLab(t, "p")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--proxy-mode", mode)
	pod := func(n string) string {
		return manifest(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: "+n+", labels: {app: x}}\nspec: {containers: [{name: web, image: \"netlab/web:"+n+"\", ports: [{containerPort: 9376}]}]}\n")
	}
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selector: {app: x}, ports: [{port: 80, targetPort: 9376}]}\n"))
	st := readStatus(t, name)
	pod1, _ := st.workload("pod1")
	to := netip.AddrPortFrom(netip.MustParseAddr(getService(t, name, "x").ClusterIP), 80)
	answering := func() map[string]bool {
		seen := map[string]bool{}
		for i := 0; i < 30; i++ {
			a, err := who.Ask(pod1, to)
			if err != nil {
				seen["refused"] = true
				continue
			}
			seen[a.Name] = true
		}
		return seen
	}
	// Without endpoints, one request is enough: REJECT answers it with an
	// ICMP port unreachable, which the kernel sends a host once a second.
	refused := func() bool {
		_, err := who.Ask(pod1, to)
		return err != nil && strings.Contains(err.Error(), "refused")
	}
	endpoints := func() int {
		out := labtest.MustRun(t, "get", "endpoints", "x", "--lab", name).Stdout
		if strings.Contains(out, "<none>") {
			return 0
		}
		return strings.Count(out, ":9376")
	}
	assert.Equal(t, 0, endpoints())
	assert.True(t, refused())
	labtest.MustRun(t, "apply", "--lab", name, "-f", pod("p1"))
	assert.Equal(t, 1, endpoints())
	assert.Equal(t, map[string]bool{"p1": true}, answering())
	r := labtest.MustRun(t, "apply", "--lab", name, "-f", pod("p2"))
	assert.Contains(t, r.Stdout, "pod/p2 created")
	assert.Equal(t, 2, endpoints())
	assert.Equal(t, map[string]bool{"p1": true, "p2": true}, answering())
	assert.Contains(t, labtest.MustRun(t, "apply", "--lab", name, "-f", pod("p2")).Stdout, "pod/p2 unchanged")
	labtest.MustRun(t, "delete", "--lab", name, "pod", "p1")
	assert.Equal(t, 1, endpoints())
	assert.Equal(t, map[string]bool{"p2": true}, answering(), "no request reaches a deleted pod")
	labtest.MustRun(t, "delete", "--lab", name, "-f", pod("p2"))
	assert.Equal(t, 0, endpoints())
	assert.True(t, refused())
}

// TestGetAsKubectl: get -o json|yaml prints the objects as the API server
// shows them (k8s.io/api types), so kubectl and jq habits carry over: the
// object itself for KIND NAME, a List for many.
func TestGetAsKubectl(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "ga")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--nodes", "1", "--pods", "1")
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", "../../examples/my-service.json")
	pods := getPods(t, name)
	require.Len(t, pods, 3)
	var ips []string
	for _, p := range pods {
		assert.True(t, p.Ready, p.Name)
		assert.Equal(t, "node1", p.Node)
		assert.NotEmpty(t, p.NS, "the pod's network namespace rides in an annotation")
		ips = append(ips, p.IP)
	}

	svc := getService(t, name, "my-service")
	assert.Regexp(t, `^10\.96\.`, svc.ClusterIP)
	var one corev1.Pod
	r := labtest.MustRun(t, "get", "pods", pods[0].Name, "-o", "json", "--lab", name)
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &one))
	assert.Equal(t, "Pod", one.Kind)
	assert.Equal(t, pods[0].IP, one.Status.PodIP)
	assert.Equal(t, "MyApp", one.Labels["app"])
	require.NotEmpty(t, one.OwnerReferences)
	assert.Equal(t, "ReplicaSet", one.OwnerReferences[0].Kind)

	var ep corev1.Endpoints //lint:ignore SA1019 get endpoints prints v1 Endpoints, as kubectl does
	r = labtest.MustRun(t, "get", "endpoints", "my-service", "-o", "json", "--lab", name)
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &ep))
	assert.Equal(t, "Endpoints", ep.Kind)
	require.Len(t, ep.Subsets, 1)
	var got []string
	for _, a := range ep.Subsets[0].Addresses {
		got = append(got, a.IP)
		require.NotNil(t, a.TargetRef)
		assert.Equal(t, "Pod", a.TargetRef.Kind)
	}
	assert.ElementsMatch(t, ips, got)
	assert.EqualValues(t, 9376, ep.Subsets[0].Ports[0].Port)

	var dep appsv1.Deployment
	r = labtest.MustRun(t, "get", "deployments", "myapp", "-o", "yaml", "--lab", name)
	require.NoError(t, yaml.Unmarshal([]byte(r.Stdout), &dep), r.Stdout)
	assert.Equal(t, "Deployment", dep.Kind)
	assert.EqualValues(t, 3, *dep.Spec.Replicas)
	assert.EqualValues(t, 3, dep.Status.ReadyReplicas)

	var rs struct {
		Kind  string              `json:"kind"`
		Items []appsv1.ReplicaSet `json:"items"`
	}
	r = labtest.MustRun(t, "get", "replicasets", "-o", "json", "--lab", name)
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rs))
	assert.Equal(t, "List", rs.Kind)
	require.Len(t, rs.Items, 1)
	assert.EqualValues(t, 3, rs.Items[0].Status.ReadyReplicas)
}

// TestKubernetesService: the Service every cluster has, default/kubernetes
// at 10.96.0.1:443, leads to an honest stand-in on the control-plane node's
// port 6443 (TLS, and the Status an unavailable API server gives); it is
// the API server's own, so neither delete nor apply may take it.
func TestKubernetesService(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "ks")
	labtest.MustRun(t, "overlay-mode", "--lab", name)
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/my-service.json")
	svc := getService(t, name, "kubernetes")
	assert.Equal(t, "10.96.0.1", svc.ClusterIP)
	require.Len(t, svc.Ports, 1)
	assert.Equal(t, 443, svc.Ports[0].Port)
	r := labtest.MustRun(t, "get", "endpoints", "kubernetes", "--lab", name)
	on := statusNodes(t, name)
	assert.Contains(t, r.Stdout, on["node1"].UnderlayIP+":6443")
	assert.Contains(t, labtest.MustRun(t, "status", "--lab", name).Stdout, "1 Service", "the cluster's own Service is not the user's")

	st := readStatus(t, name)
	pod3, _ := st.workload("pod3") // on node2: the answer crosses the overlay
	for _, url := range []string{"https://10.96.0.1/", "https://kubernetes.default.svc.cluster.local/api"} {
		out, err := exec.Command("ip", "netns", "exec", string(pod3), "curl", "-sk", "-m", "5", url).CombinedOutput()
		require.NoError(t, err, "%s: %s", url, out)
		var status struct {
			Kind, Reason, Message string
			Code                  int
		}
		require.NoError(t, json.Unmarshal(out, &status), "%s", out)
		assert.Equal(t, "Status", status.Kind)
		assert.Equal(t, 503, status.Code)
		assert.Equal(t, "ServiceUnavailable", status.Reason)
		assert.Contains(t, status.Message, "has no Kubernetes API server")
	}

	before := labtest.MustRun(t, "get", "services", "-o", "json", "--lab", name).Stdout
	r = labtest.Run(t, "delete", "service", "kubernetes", "--lab", name)
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, `service "kubernetes" is the API server's own`)
	r = labtest.Run(t, "apply", "--lab", name, "-f", manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: kubernetes}\nspec: {selector: {app: x}, ports: [{port: 80}]}\n"))
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "default/kubernetes is the API server's own Service")
	r = labtest.Run(t, "apply", "--lab", name, "-f", manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: mine}\nspec: {clusterIP: 10.96.0.1, selector: {app: x}, ports: [{port: 80}]}\n"))
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "10.96.0.1 is already allocated to default/kubernetes")
	assert.Equal(t, before, labtest.MustRun(t, "get", "services", "-o", "json", "--lab", name).Stdout, "nothing changed")
}
