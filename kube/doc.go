// Package kube is the Kubernetes model's Services, Deployments and Pods
// on a running overlay lab, built the way Kubernetes' own components
// build them, each in the file its name says:
//
//	manifest.go, validate.go      reading manifests, strictly, with the API types;
//	                              each object checked as the API server checks it
//	apiserver_linux.go            the store (the cluster's objects), Plan (the
//	                              objects against the cluster), Apply, Delete
//	objects.go                    the objects as the API shows them (get -o json)
//	kubernetes_linux.go           default/kubernetes and the stand-in behind it
//	deployment.go,                the Deployment controller: rollouts step by
//	deployment_linux.go           step, scale, undo, pause
//	kubelet_linux.go              the kubelet's part: pod namespaces, addresses,
//	                              servers, readiness probes, restarts
//	proxier.go, proxier_linux.go  kube-proxy's iptables rules as data, and
//	                              their sync onto every node
//	dns.go, dns_linux.go          the cluster DNS: its answers (CoreDNS's,
//	                              record by record), its server
//	controller_linux.go           the lab's controller process: every second
//	                              the kubelet's probes, the proxier's sync,
//	                              rollouts that wait
//	netpol.go, netpol_validate.go NetworkPolicy's meaning from the objects (the
//	                              evaluator), and its checks as the API server's
//	netpol_rules.go,              its enforcement as data, in kube-router's shape
//	netpol_linux.go               (chains, ipsets); Namespaces and policies in the
//	                              store, loaded by the sync
//	netpol_probe_linux.go         the probe: x/y/z pods asking each other
//	preflight_linux.go            what must hold before anything changes
//	store.go                      the objects as the store keeps them
//
// Where does a Service's rule get made? proxier.go (Generate, from the
// Service ports and their endpoints). Where is it applied? proxier_linux.go
// (Cluster.Sync, through netops, so --explain prints it).
package kube
