package topo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNetworks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "topo.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`
nodes: [{name: node1, ip: 192.168.56.11, containers: 4}]
networks: [{name: app}, {name: db, subnet: 172.18.0.0/16}, {name: back, internal: true}, {name: My_Net.1}]
containers:
  - {name: c1, networks: [app, db], aliases: [web, api.internal]}
  - {name: c2, network_mode: "container:c1"}
  - {name: c3, network_mode: host}
`), 0o644))
	o := opts()
	o.File = p
	top, err := Resolve(o)
	require.NoError(t, err)
	var got []string
	for _, n := range top.Docker.Networks {
		got = append(got, n.Name+" "+n.Subnet.String()+" "+n.Bridge)
		assert.Len(t, n.ID, 12)
	}
	app, db, back := networkID("docker", "app"), networkID("docker", "db"), networkID("docker", "back")
	// Docker's pools, the first free one: db took 172.18.
	assert.Equal(t, []string{"app 172.19.0.0/16 br-" + app, "db 172.18.0.0/16 br-" + db, "back 172.20.0.0/16 br-" + back,
		"My_Net.1 172.21.0.0/16 br-" + networkID("docker", "My_Net.1")}, got, "Docker's names, upper case and dots too")
	assert.Equal(t, []string{"app", "db"}, top.Docker.Container("c1").Networks)
	assert.Equal(t, []string{"bridge"}, top.Docker.Container("c4").Networks, "a container the file does not name is on the default bridge")
	assert.Equal(t, 81, top.Docker.Container("c2").Port, "c2 shares c1's namespace, where c1 holds port 80")
	assert.Equal(t, 80, top.Docker.Container("c3").Port, "the node holds 8080 (published), not 80")
	assert.NotEqual(t, networkID("docker", "app"), networkID("other", "app"), "a network's id is its lab's")

	o = opts()
	net := "front"
	o.Network = &net
	top, err = Resolve(o)
	require.NoError(t, err)
	require.Len(t, top.Docker.Networks, 1)
	assert.Equal(t, "172.18.0.0/16", top.Docker.Networks[0].Subnet.String(), "--network NAME creates NAME as docker network create does")
	assert.Equal(t, []string{"front"}, top.Docker.Container("c3").Networks)
}

func TestNetworksReject(t *testing.T) {
	file := func(text string) string {
		p := filepath.Join(t.TempDir(), "topo.yaml")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	two := "nodes: [{name: node1, ip: 192.168.56.11, containers: 2}, {name: node2, ip: 192.168.56.12, containers: 2}]\n"
	checkRejects(t, []rejectCase{
		{"bad name", "networks: [{name: App!}]", nil, `networks[0].name: "App!" must be letters, digits`},
		{"docker's own", "networks: [{name: bridge}]", nil, `networks[0].name: "bridge" is Docker's own`},
		{"twice", "networks: [{name: a}, {name: a}]", nil, `networks[1].name: "a" is already networks[0]'s name`},
		{"bad subnet", "networks: [{name: a, subnet: banana}]", nil, `networks[0].subnet: "banana" is not an IPv4 prefix`},
		{"docker0's subnet", "networks: [{name: a, subnet: 172.17.5.0/24}]", nil, "networks[0].subnet: 172.17.5.0/24 overlaps docker.subnet"},
		{"underlay", "networks: [{name: a, subnet: 192.168.56.0/25}]", nil, "overlaps the underlay"},
		{"overlap", "networks: [{name: a, subnet: 10.1.0.0/16}, {name: b, subnet: 10.1.2.0/24}]", nil, "networks[1].subnet: 10.1.2.0/24 overlaps networks[0]'s 10.1.0.0/16"},
		{"no such container", two + "containers: [{name: c9}]", nil, `containers[0].name: "c9" is not a container of this lab (its containers are c1 to c4`},
		{"container twice", two + "containers: [{name: c1}, {name: c1}]", nil, `containers[1].name: "c1" is already containers[0]`},
		{"no such network", two + "containers: [{name: c1, networks: [nope]}]", nil, `containers[0].networks[0]: "nope" is no network of this lab (networks: bridge)`},
		{"network twice", two + "networks: [{name: a}]\ncontainers: [{name: c1, networks: [a, a]}]", nil, `containers[0].networks[1]: "a" is already networks[0]`},
		{"bad mode", two + "containers: [{name: c1, network_mode: bogus}]", nil, `containers[0].network_mode: "bogus" is not a network mode`},
		{"mode and networks", two + "networks: [{name: a}]\ncontainers: [{name: c1, network_mode: host, networks: [a]}]", nil, "takes no networks or aliases"},
		{"alias on the default bridge", two + "containers: [{name: c1, aliases: [web]}]", nil, "an alias is answered by Docker's embedded DNS, on a user-defined network: c1 is on none"},
		{"bad alias", two + "networks: [{name: a}]\ncontainers: [{name: c1, networks: [a], aliases: [Web_1]}]", nil, `containers[0].aliases[0]: "Web_1" is not a DNS name in lowercase`},
		{"share itself", two + "containers: [{name: c1, network_mode: 'container:c1'}]", nil, "c1 cannot share its own namespace"},
		{"share across nodes", two + "containers: [{name: c1, network_mode: 'container:c3'}]", nil, "c1 runs on node1 and c3 on node2: containers share a namespace on one host only"},
		{"share a sharer", two + "containers: [{name: c1, network_mode: 'container:c2'}, {name: c2, network_mode: 'container:c1'}]", nil, "c2 itself shares c1's namespace"},
		{"port twice", two + "containers: [{name: c1, port: 90}, {name: c2, network_mode: 'container:c1', port: 90}]", nil, "both listen on port 90 in one namespace"},
		{"bad port", two + "containers: [{name: c1, port: 0}]", nil, "containers[0].port: 0 is not a TCP port"},
		{"20.10", "docker: {version: '20.10'}\nnetworks: [{name: a}]", nil, "built as Docker 28 writes them"},
		{"no proxy", "docker: {userland_proxy: false}\nnetworks: [{name: a}]", nil, "leave --userland-proxy (userland_proxy in a topology file) on"},
		{"--network host", "", func(o *Options) { h := "host"; o.Network = &h }, `--network "host": give a network mode per container, in a topology file`},
		{"--network bad", "", func(o *Options) { h := "Bad!"; o.Network = &h }, `--network "Bad!": a network's name is letters`},
	})
	o := opts()
	o.Mode = OverlayMode
	o.File = file("networks: [{name: a}]")
	_, err := Resolve(o)
	assert.ErrorContains(t, err, "networks: Docker networks are docker-mode's")
}

// rejectCase is a topology Resolve must refuse: a file's text (none when
// empty), changes to the options, and what the error must say.
type rejectCase struct {
	name, text string
	mod        func(*Options)
	want       string
}

// checkRejects resolves each case and expects an InputError saying want.
func checkRejects(t *testing.T, cases []rejectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := opts()
			if tc.text != "" {
				p := filepath.Join(t.TempDir(), "topo.yaml")
				require.NoError(t, os.WriteFile(p, []byte(tc.text), 0o644))
				o.File = p
			}
			if tc.mod != nil {
				tc.mod(&o)
			}
			_, err := Resolve(o)
			require.Error(t, err)
			assert.True(t, IsInput(err))
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
