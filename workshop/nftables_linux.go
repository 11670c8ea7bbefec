package workshop

import (
	"fmt"
	"regexp"

	"netlab/internal/netops"
)

// The nftables exercise, on an overlay lab whose kube-proxy runs in
// nftables mode (overlay-mode --proxy-mode nftables): the Services are
// table ip kube-proxy, and the break is in an endpoint chain there.

func init() {
	register(Exercise{
		N: 22, ID: "k8s-nft-service-refuses", Title: "A Service refuses one request in three (nftables mode)",
		Model: Kubernetes, Difficulty: "medium", Manifests: myApp, Flags: []string{"--proxy-mode", "nftables"},
		Story: func(e *Env) string {
			return fmt.Sprintf("This cluster's kube-proxy runs in nftables mode: there is no KUBE-SERVICES chain to read. "+
				"Calls from pods on node1 to my-service (%s) fail about one time in three with 'connection refused'; "+
				"from pods on node2 they all work, and each of the three pods of app: MyApp answers when asked directly.", e.vip("my-service"))
		},
		Break: func(e *Env) ([]netops.Op, error) {
			s, ok := e.service("my-service")
			if !ok {
				return nil, fmt.Errorf("no Service my-service")
			}
			port := s.Ports[0].TargetPort
			chain, rule, handle, err := e.NFTRule("node1", regexp.MustCompile(fmt.Sprintf(`^meta l4proto tcp dnat to [0-9.]+:%d$`, port)))
			if err != nil {
				return nil, err
			}
			wrong := regexp.MustCompile(`:\d+$`).ReplaceAllString(rule, fmt.Sprintf(":%d", port+1))
			return []netops.Op{netops.NFT{NS: e.NS("node1"), Lines: []string{fmt.Sprintf("replace rule ip kube-proxy %s handle %d %s", chain, handle, wrong)}}}, nil
		},
		// Refused, as for exercise 11: the broken endpoint taken out of
		// the numgen map (its pod never answers), its DNAT sent to another
		// pod (the same).
		Criteria: []Criterion{allAnswered("pod1", 60), allAnswered("pod3", 60)},
		Solution: func(e *Env) []string {
			s, _ := e.service("my-service")
			port := s.Ports[0].TargetPort
			chain, rule, handle, err := e.NFTRule("node1", regexp.MustCompile(fmt.Sprintf(`^meta l4proto tcp dnat to [0-9.]+:%d$`, port+1)))
			if err != nil {
				return []string{"# the rule that DNATs to the wrong port is gone already"}
			}
			right := regexp.MustCompile(`:\d+$`).ReplaceAllString(rule, fmt.Sprintf(":%d", port))
			return []string{fmt.Sprintf("sudo ip netns exec %s nft replace rule ip kube-proxy %s handle %d %s", e.NS("node1"), chain, handle, right)}
		},
	})
}
