package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/who"
)

func webDeployment(name, labels, tag string, replicas int, extra string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `}
spec:
  replicas: ` + itoa(replicas) + `
  selector: {matchLabels: {` + labels + `}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
` + extra + `
  template:
    metadata: {labels: {` + labels + `}}
    spec:
      containers:
      - name: web
        image: netlab/web:` + tag + `
        ports: [{name: http, containerPort: 9376}]
        readinessProbe: {httpGet: {path: "` + map[bool]string{true: "/healthz?fail", false: "/healthz"}[tag == "broken"] + `", port: http}, periodSeconds: 1}
`
}

func itoa(n int) string { return strconv.Itoa(n) }

// curLab is the lab whose pods colors asks from.
var curLab string

func nsOf(workload string) netops.NS { return names.NetnsName(curLab, workload) }

// colorOf asks over c and returns the color that answered.
func colorOf(t *testing.T, c net.Conn, to netip.AddrPort) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", to); err != nil {
		return "failed"
	}
	body, err := io.ReadAll(c)
	if err != nil {
		return "failed"
	}
	_, color, ok := strings.Cut(string(body), "the color is ")
	if !ok {
		return "failed"
	}
	return strings.TrimSpace(color)
}

// colors asks a Service n times from a pod and counts the colors that
// answered (and the requests that failed).
func colors(t *testing.T, from string, to netip.AddrPort, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := 0; i < n; i++ {
		c, err := who.Dial(nsOf(from), to, time.Second)
		if err != nil {
			out["failed"]++
			continue
		}
		out[colorOf(t, c, to)]++
		c.Close()
	}
	return out
}

// TestRollouts: a rolling update under steady traffic loses no request; a
// rollout whose pods never turn Ready stalls and rollout undo recovers;
// blue-green switches a Service's selector; a canary takes its share.
func TestRollouts(t *testing.T) {
	labtest.Root(t)
	eachProxyMode(t, testRollouts)
}

func testRollouts(t *testing.T, mode string) {
	name := labtest.NewLab(t, "r")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--proxy-mode", mode)
	curLab = name
	svc := manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}\n")
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, webDeployment("web", "app: web", "blue", 4, "")), "-f", svc)
	to := netip.AddrPortFrom(netip.MustParseAddr(getService(t, name, "web").ClusterIP), 80)
	assert.Equal(t, map[string]int{"blue": 20}, colors(t, "pod1", to, 20))

	// Steady traffic through the rollout: nothing lost, both colors seen.
	var stop atomic.Bool
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			c := colors(t, "pod1", to, 1)
			mu.Lock()
			for k, v := range c {
				seen[k] += v
			}
			mu.Unlock()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	r := labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, webDeployment("web", "app: web", "green", 4, "")))
	assert.Contains(t, r.Stdout, "deployment.apps/web configured")
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, seen["failed"], "a rolling update with maxUnavailable 0 loses no request: %v", seen)
	assert.Positive(t, seen["blue"], "%v", seen)
	assert.Positive(t, seen["green"], "%v", seen)
	assert.Equal(t, map[string]int{"green": 20}, colors(t, "pod1", to, 20))
	assert.Contains(t, labtest.MustRun(t, "rollout", "status", "deployment/web", "--lab", name).Stdout, `deployment "web" successfully rolled out`)
	hist := labtest.MustRun(t, "rollout", "history", "deployment/web", "--lab", name).Stdout
	assert.Contains(t, hist, "1         web=netlab/web:blue")
	assert.Contains(t, hist, "2         web=netlab/web:green")
	assert.Len(t, getPods(t, name), 4)
	rs := labtest.MustRun(t, "get", "replicasets", "--lab", name).Stdout
	assert.Regexp(t, `(?m)^web-\w+\s+0\s+0\s+0\s`, rs, "the old ReplicaSet, scaled to 0")
	assert.Regexp(t, `(?m)^web-\w+\s+4\s+4\s+4\s`, rs, "the new one")
	assert.Regexp(t, `(?m)^web\s+4/4\s+4\s+4\s`, labtest.MustRun(t, "get", "deployments", "--lab", name).Stdout)
	assert.Contains(t, labtest.MustRun(t, "get", "services", "web", "-o", "yaml", "--lab", name).Stdout, "kind: Service\n", "the object itself, as kubectl prints it")
	assert.Contains(t, labtest.MustRun(t, "get", "services", "-o", "yaml", "--lab", name).Stdout, "kind: List\n")

	// Pods that never turn Ready: the rollout stalls, the old pods serve.
	r = labtest.Run(t, "apply", "--lab", name, "-f", manifest(t, webDeployment("web", "app: web", "broken", 4, "  progressDeadlineSeconds: 3")))
	assert.Equal(t, 1, r.Code, r.Stdout+r.Stderr)
	assert.Contains(t, r.Stderr, `deployment "web" exceeded its progress deadline`)
	assert.Equal(t, map[string]int{"green": 20}, colors(t, "pod1", to, 20), "unready pods get no traffic")
	st := labtest.Run(t, "rollout", "status", "deployment/web", "--lab", name)
	assert.Equal(t, 1, st.Code)
	labtest.MustRun(t, "rollout", "undo", "deployment/web", "--lab", name)
	assert.Equal(t, map[string]int{"green": 20}, colors(t, "pod1", to, 20))
	assert.Equal(t, 0, labtest.Run(t, "rollout", "status", "deployment/web", "--lab", name).Code)
	assert.Len(t, getPods(t, name), 4, "the broken pods are gone")

	// Scale.
	labtest.MustRun(t, "scale", "deployment/web", "--replicas", "2", "--lab", name)
	assert.Len(t, getPods(t, name), 2)

	// Blue-green: two Deployments, and the Service's selector switched.
	labtest.MustRun(t, "delete", "--lab", name, "deployment", "web")
	labtest.MustRun(t, "apply", "--lab", name,
		"-f", manifest(t, webDeployment("blue", "app: web, version: blue", "blue", 2, "")),
		"-f", manifest(t, webDeployment("green", "app: web, version: green", "green", 2, "")),
		"-f", manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web, version: blue}, ports: [{port: 80, targetPort: http}]}\n"))
	assert.Equal(t, map[string]int{"blue": 20}, colors(t, "pod1", to, 20))
	start := time.Now()
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web, version: green}, ports: [{port: 80, targetPort: http}]}\n"))
	assert.Equal(t, map[string]int{"green": 20}, colors(t, "pod1", to, 20), "every new connection moves at once")
	assert.Less(t, time.Since(start), 2*time.Second)
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web, version: blue}, ports: [{port: 80, targetPort: http}]}\n"))
	assert.Equal(t, map[string]int{"blue": 20}, colors(t, "pod1", to, 20), "and back")

	// Canary: one Service over both tracks; the share follows replicas.
	labtest.MustRun(t, "delete", "--lab", name, "deployment", "blue")
	labtest.MustRun(t, "delete", "--lab", name, "deployment", "green")
	labtest.MustRun(t, "apply", "--lab", name,
		"-f", manifest(t, webDeployment("stable", "app: web, track: stable", "blue", 3, "")),
		"-f", manifest(t, webDeployment("canary", "app: web, track: canary", "green", 1, "")),
		"-f", manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}\n"))
	c := colors(t, "pod1", to, 400)
	assert.Zero(t, c["failed"])
	assert.True(t, c["green"] >= 50 && c["green"] <= 150, "the canary takes about a quarter: %v", c)
}

// TestTraffic: netlab traffic counts, per second, the versions that
// answered, and watches a rollout happen.
func TestTraffic(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "f")
	labtest.MustRun(t, "overlay-mode", "--lab", name)
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../docs/examples/rolling.yaml")
	r := labtest.MustRun(t, "traffic", "svc/web", "--lab", name, "--duration", "2", "--rate", "20", "--json")
	var red, failed, lines int
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var s struct {
			Colors map[string]int `json:"colors"`
			Failed int            `json:"failed"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &s), l)
		red += s.Colors["red"]
		failed += s.Failed
		lines++
	}
	assert.GreaterOrEqual(t, lines, 2, "a line a second")
	assert.Zero(t, failed)
	assert.GreaterOrEqual(t, red, 25, "about 20 requests a second, all red")

	// During a rollout: both versions, nothing lost.
	done := make(chan labtest.Result)
	go func() {
		done <- labtest.Run(t, "traffic", "svc/web", "--lab", name, "--duration", "4", "--rate", "50", "--json")
	}()
	time.Sleep(time.Second)
	labtest.MustRun(t, "set", "image", "deployment/web", "web=netlab/web:green", "--lab", name)
	r = <-done
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, `"red"`)
	assert.Contains(t, r.Stdout, `"green"`)
	assert.NotRegexp(t, `"failed":[1-9]`, r.Stdout)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"traffic"}, "takes svc/NAME"},
		{[]string{"traffic", "svc/nosuch"}, "no Service"},
		{[]string{"traffic", "svc/web", "--rate", "0"}, "--rate 0"},
		{[]string{"traffic", "svc/web", "--from", "nosuch"}, "no pod"},
		{[]string{"traffic", "not-an-address"}, "is not svc/NAME or IP:PORT"},
	} {
		r := labtest.Run(t, append(tc.args, "--lab", name)...)
		assert.Equal(t, 2, r.Code, "%v: %s", tc.args, r.Stderr)
		assert.Contains(t, r.Stderr, tc.want)
	}
}

// TestRolloutBadInput: bad usage of rollout, scale and set exits 2, says
// why, and changes nothing.
func TestRolloutBadInput(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "rb")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--nodes", "1")
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, webDeployment("web", "app: web", "blue", 2, "")))
	before := getPods(t, name)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "status"}, "takes deployment/NAME"},
		{[]string{"rollout", "status", "web"}, "give deployment/NAME"},
		{[]string{"rollout", "status", "deployment/web", "--timeout", "-1s"}, "--timeout -1s: 0 (no limit) or more"},
		{[]string{"rollout", "status", "deployment/nosuch"}, "not found"},
		{[]string{"rollout", "frob", "deployment/web"}, "unknown rollout verb"},
		{[]string{"rollout", "undo", "deployment/nosuch"}, "not found"},
		{[]string{"rollout", "undo", "deployment/web", "--to-revision", "9"}, "revision 9"},
		{[]string{"scale", "deployment/web"}, "needs --replicas"},
		{[]string{"scale", "deployment/web", "--replicas", "-1"}, "from 0 to 256"},
		{[]string{"scale", "deployment/web", "--replicas", "x"}, "not a whole number"},
		{[]string{"set", "image", "deployment/web", "web=nginx"}, "netlab runs netlab/web:TAG"},
		{[]string{"set", "image", "deployment/web", "nope=netlab/web:x"}, "unable to find container"},
		{[]string{"set", "image", "deployment/web"}, "CONTAINER=IMAGE"},
	} {
		r := labtest.Run(t, append(tc.args, "--lab", name)...)
		assert.NotEqual(t, 0, r.Code, "%v", tc.args)
		assert.Contains(t, r.Stderr, tc.want, tc.args)
	}
	after := getPods(t, name)
	assert.Equal(t, before, after, "nothing changed")
}

// TestNamespaceFlag: the verbs that name a Deployment take kubectl's
// -n/--namespace; without it they look in default, as kubectl does.
func TestNamespaceFlag(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "ns")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--nodes", "1")
	d := strings.Replace(webDeployment("web", "app: web", "blue", 1, ""), "metadata: {name: web}", "metadata: {name: web, namespace: team}", 1)
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, d))

	r := labtest.Run(t, "scale", "deployment/web", "--replicas", "2", "--lab", name)
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "not found")
	r = labtest.Run(t, "scale", "deployment/web", "-n", "Team_1", "--replicas", "2", "--lab", name)
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `--namespace: "Team_1" is not a namespace name`)

	labtest.MustRun(t, "scale", "deployment/web", "-n", "team", "--replicas", "2", "--lab", name)
	labtest.MustRun(t, "rollout", "status", "deployment/web", "-n", "team", "--lab", name)
	assert.Empty(t, getPods(t, name), "default has no pods")
	r = labtest.MustRun(t, "get", "pods", "-n", "team", "--lab", name)
	assert.Equal(t, 3, len(strings.Split(strings.TrimSpace(r.Stdout), "\n")), "a heading and two pods in team:\n%s", r.Stdout)
	r = labtest.MustRun(t, "set", "image", "deployment/web", "web=netlab/web:green", "--namespace", "team", "--lab", name)
	assert.Contains(t, r.Stdout, "deployment.apps/web image updated")
	labtest.MustRun(t, "rollout", "status", "deployment/web", "-n", "team", "--lab", name)
	r = labtest.MustRun(t, "rollout", "history", "deployment/web", "-n", "team", "--lab", name)
	assert.Contains(t, r.Stdout, "web=netlab/web:green")
	labtest.MustRun(t, "delete", "deployment", "web", "-n", "team", "--lab", name)
	r = labtest.MustRun(t, "get", "deployments", "-A", "--lab", name)
	assert.NotContains(t, r.Stdout, "web")
}
