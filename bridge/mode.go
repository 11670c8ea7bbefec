package bridge

import (
	"netlab/internal/lab"
	"netlab/internal/topo"
)

func init() {
	lab.RegisterMode(lab.Mode{Verb: "docker-mode", Name: Mode, Workloads: "containers",
		Short: "Build the Docker model: a docker0 bridge per host, containers, NAT and a published port",
		Long: `Build the Docker networking model in an embedded lab: hosts node1..nodeN on an
underlay network (192.168.56.0/24, as two Vagrant VMs), an outside host, and on
every host a docker0 bridge (172.17.0.1/16, the same on every host) with
containers, MASQUERADE for traffic leaving the host and node:8080 published to
the host's first container:80.`,
		Plan: Plan,
		Bools: []lab.BoolFlag{{Name: "userland-proxy", Default: true,
			Usage: "Docker's userland-proxy: true (its default) runs docker-proxy on the published port; false catches everything with rules (hairpin, route_localnet)",
			Set:   func(o *topo.Options, v bool) { o.UserlandProxy = &v }},
			{Name: "ipv6",
				Usage: "dual-stack, as Docker's --ipv6 --fixed-cidr-v6 fd00:172:17::/64 makes it: containers get an IPv6 address beside their IPv4 one, ip6tables NAT66 on the way out, the published port on both families (Docker 28)",
				Set:   func(o *topo.Options, v bool) { o.IPv6 = &v }},
			{Name: "allow-direct-routing",
				Usage: "Docker 28's allow-direct-routing: let packets routed to a container's address from outside its bridge through (28 drops them in the raw table)",
				Set:   func(o *topo.Options, v bool) { o.AllowDirectRouting = &v }}},
		Strings: []lab.StringFlag{{Name: "docker-version", Default: topo.Docker28,
			Usage: "the Docker whose rules to build: 28 (as 28.5.2 writes them: routed access to containers dropped in the raw table, FORWARD through DOCKER-FORWARD) or 20.10 (as 20.10 and 26.1 write them)",
			Set:   func(o *topo.Options, v string) { o.DockerVersion = &v }},
			{Name: "network", Default: topo.DefaultNetwork,
				Usage: "the network of every container (docker run --network): bridge (the default bridge, docker0) or the name of a user-defined network (created as 'docker network create NAME' makes it, if the topology file has none of that name), whose containers find each other by name",
				Set:   func(o *topo.Options, v string) { o.Network = &v }}},
	})
}
