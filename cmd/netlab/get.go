package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"netlab/kube"
)

// kubeKind reads a kind as kubectl takes it: singular, plural or short.
func kubeKind(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "service", "services", "svc":
		return "service", true
	case "deployment", "deployments", "deploy", "deployment.apps":
		return "deployment", true
	case "pod", "pods", "po":
		return "pod", true
	case "endpoints", "ep":
		return "endpoints", true
	case "replicasets", "replicaset", "rs", "replicaset.apps":
		return "replicaset", true
	case "networkpolicy", "networkpolicies", "netpol", "networkpolicy.networking.k8s.io", "networkpolicies.networking.k8s.io":
		return "networkpolicy", true
	case "namespace", "namespaces", "ns":
		return "namespace", true
	}
	return "", false
}

func newGet(g *globals) *cobra.Command {
	var output string
	var all, showLabels bool
	c := &cobra.Command{
		Use:     "get pods|services|deployments|replicasets|endpoints|networkpolicies|namespaces [NAME] [-o wide|json|yaml]",
		Short:   "List the Kubernetes objects of the Kubernetes-model lab, with kubectl's columns",
		Example: "  sudo netlab get pods -o wide\n  sudo netlab get endpoints my-service",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("get takes a kind (pods, services, deployments, replicasets, endpoints, networkpolicies, namespaces) and maybe a name")
			}
			if _, ok := kubeKind(args[0]); !ok {
				return usagef("%q: netlab gets pods, services, deployments, replicasets, endpoints, networkpolicies or namespaces", args[0])
			}
			switch output {
			case "", "wide", "json", "yaml":
			default:
				return usagef("-o %q: wide, json or yaml", output)
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := needRoot("get"); err != nil {
				return err
			}
			cl, done, err := openCluster(g, c, false)
			if err != nil {
				return err
			}
			defer done()
			cl.Reprobe() // READY as the probes say now
			kind, _ := kubeKind(args[0])
			if kind == "endpoints" {
				// As kubectl 1.33+ says it.
				fmt.Fprintln(c.ErrOrStderr(), "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice")
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			ns, err := g.ns()
			if err != nil {
				return err
			}
			if all || kind == "namespace" { // namespaces are in none
				ns = ""
			}
			return printGet(c.OutOrStdout(), cl, kind, name, output, ns, showLabels)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "wide, json or yaml")
	c.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace (kube-system's cluster DNS too), not only default or -n's")
	c.Flags().BoolVar(&showLabels, "show-labels", false, "a last column LABELS, as kubectl's: what selectors (a Service's, a NetworkPolicy's) match")
	namespaceFlag(g, c)
	return c
}

func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh", int(d.Hours()))
}

// item is one object as get lists it: its namespace and name, its row's
// columns (and those -o wide adds), and what -o json|yaml shows of it.
type item struct {
	ns, name   string
	cols, wide []string
	obj        any
}

// listing is a kind as get lists it, as kubectl's columns go.
type listing struct {
	head, wide []string
	items      []item
}

// printGet lists the objects of kind (one, with name) in namespace (every
// namespace when it is "", then with kubectl's NAMESPACE column), as a
// table or as -o json|yaml.
func printGet(w io.Writer, cl *kube.Cluster, kind, name, output, namespace string, showLabels bool) error {
	var l listing
	switch kind {
	case "pod":
		l = podListing(cl)
	case "service":
		l = serviceListing(cl.Store)
	case "endpoints":
		l = endpointsListing(cl)
	case "deployment":
		l = deploymentListing(cl.Store)
	case "replicaset":
		l = replicaSetListing(cl.Store)
	case "networkpolicy":
		l = policyListing(cl.Store)
	case "namespace":
		l = namespaceListing(cl)
	}
	var items []item
	for _, it := range l.items {
		if (name == "" || it.name == name) && (namespace == "" || it.ns == namespace) {
			items = append(items, it)
		}
	}
	if name != "" && len(items) == 0 {
		return usagef("%s %q not found", kind, name)
	}
	// As kubectl lists them: by namespace, then name.
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].ns != items[j].ns {
			return items[i].ns < items[j].ns
		}
		return items[i].name < items[j].name
	})
	if output == "json" || output == "yaml" {
		// As kubectl: the object itself for KIND NAME, a List for many.
		var doc any
		if name != "" {
			doc = items[0].obj
		} else {
			rows := []any{}
			for _, it := range items {
				rows = append(rows, it.obj)
			}
			doc = map[string]any{"apiVersion": "v1", "kind": "List", "items": rows, "metadata": map[string]any{"resourceVersion": ""}}
		}
		if output == "json" {
			return writeJSON(w, doc)
		}
		data, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	defer tw.Flush()
	// kubectl's order: NAMESPACE (with -A), the columns, -o wide's, LABELS.
	row := func(ns string, cols, wide []string, labels string) {
		if namespace == "" && kind != "namespace" { // -A: kubectl's first column is the namespace
			cols = append([]string{ns}, cols...)
		}
		if output == "wide" {
			cols = append(cols, wide...)
		}
		if showLabels {
			cols = append(cols, labels)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	row("NAMESPACE", l.head, l.wide, "LABELS")
	for _, it := range items {
		row(it.ns, it.cols, it.wide, labelsOf(it.obj))
	}
	return nil
}

// labelsOf is an object's labels as kubectl's --show-labels prints them:
// key=value, sorted, comma-separated; <none> when it has none.
func labelsOf(obj any) string {
	var m struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	data, err := json.Marshal(obj)
	if err != nil || json.Unmarshal(data, &m) != nil || len(m.Metadata.Labels) == 0 {
		return "<none>"
	}
	var kv []string
	for k, v := range m.Metadata.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func podListing(cl *kube.Cluster) listing {
	l := listing{head: []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, wide: []string{"IP", "NODE"}}
	hostIP := map[string]string{}
	for _, n := range cl.S.Topology.Nodes {
		hostIP[n.Name] = n.IP.String()
	}
	for _, p := range cl.Store.Pods {
		ready := 0
		if p.Ready {
			ready = len(p.Template.Containers)
		}
		// As kubectl: a pod whose servers died says so until the
		// kubelet's part starts them again, and RESTARTS says when.
		status, restarts := "Running", fmt.Sprint(p.Restarts)
		switch {
		case !p.DeadSince.IsZero() && p.Restarts > 0:
			status = "CrashLoopBackOff"
		case !p.DeadSince.IsZero():
			status = "Error"
		}
		if p.Restarts > 0 {
			restarts += " (" + age(p.Restarted) + " ago)"
		}
		l.items = append(l.items, item{ns: p.Namespace, name: p.Name, obj: kube.PodObject(p, hostIP[p.Node]),
			cols: []string{p.Name, fmt.Sprintf("%d/%d", ready, len(p.Template.Containers)), status, restarts, age(p.Created)},
			wide: []string{p.IP.String(), p.Node}})
	}
	return l
}

func serviceListing(st kube.Store) listing {
	l := listing{head: []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, wide: []string{"SELECTOR"}}
	for _, s := range st.Services {
		var ports []string
		for _, p := range s.Ports {
			pp := fmt.Sprint(p.Port)
			if p.NodePort != 0 {
				pp += fmt.Sprintf(":%d", p.NodePort)
			}
			ports = append(ports, pp+"/"+p.Protocol)
		}
		ip := "None"
		if s.ClusterIP.IsValid() {
			ip = s.ClusterIP.String()
		}
		l.items = append(l.items, item{ns: s.Namespace, name: s.Name, obj: kube.ServiceObject(s),
			cols: []string{s.Name, s.Type, ip, "<none>", strings.Join(ports, ","), age(s.Created)},
			wide: []string{selectorText(s.Selector)}})
	}
	return l
}

func endpointsListing(cl *kube.Cluster) listing {
	l := listing{head: []string{"NAME", "ENDPOINTS", "AGE"}}
	for _, s := range cl.Store.Services {
		eps := cl.Endpoints(s)
		var list []string
		for _, p := range s.Ports {
			for _, e := range eps[p.Name] {
				list = append(list, e.String())
			}
		}
		sort.Strings(list)
		text := "<none>"
		if len(list) > 0 {
			text = strings.Join(list, ",")
		}
		l.items = append(l.items, item{ns: s.Namespace, name: s.Name,
			obj:  kube.EndpointsObject(s, eps, cl.Store.Pods),
			cols: []string{s.Name, text, age(s.Created)}})
	}
	return l
}

func deploymentListing(st kube.Store) listing {
	l := listing{head: []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}}
	for _, d := range st.Deployments {
		ready := 0
		for _, p := range st.Pods {
			if p.Owner == d.Namespace+"/"+d.Name && p.Ready {
				ready++
			}
		}
		l.items = append(l.items, item{ns: d.Namespace, name: d.Name, obj: kube.DeploymentObject(d, ready),
			cols: []string{d.Name, fmt.Sprintf("%d/%d", ready, d.Replicas), fmt.Sprint(d.Replicas), fmt.Sprint(ready), age(d.Created)}})
	}
	return l
}

// replicaSetListing lists a ReplicaSet per revision of each Deployment,
// named as Kubernetes names them (NAME-HASH); the current one wants the
// Deployment's replicas, the others none.
func replicaSetListing(st kube.Store) listing {
	l := listing{head: []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}}
	for _, d := range st.Deployments {
		for i, r := range d.Revisions {
			rs := d.Name + "-" + r.Hash
			desired := 0
			if i == len(d.Revisions)-1 {
				desired = d.Replicas
			}
			current, ready := 0, 0
			for _, p := range st.Pods {
				if p.Owner == d.Namespace+"/"+d.Name && p.Template.Labels["pod-template-hash"] == r.Hash {
					current++
					if p.Ready {
						ready++
					}
				}
			}
			l.items = append(l.items, item{ns: d.Namespace, name: rs,
				obj:  kube.ReplicaSetObject(d, r, desired, current, ready),
				cols: []string{rs, fmt.Sprint(desired), fmt.Sprint(current), fmt.Sprint(ready), age(d.Created)}})
		}
	}
	return l
}

func selectorText(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func policyListing(st kube.Store) listing {
	l := listing{head: []string{"NAME", "POD-SELECTOR", "AGE"}}
	for _, p := range st.Policies {
		// As kubectl: "<none>" for the empty selector (every pod of the
		// namespace).
		sel := metav1.FormatLabelSelector(&p.Spec.PodSelector)
		l.items = append(l.items, item{ns: p.Namespace, name: p.Name, obj: kube.NetworkPolicy(p),
			cols: []string{p.Name, sel, age(p.Created)}})
	}
	return l
}

// namespaceListing lists every namespace, those applied as objects and
// those something is in, as kubectl's NAME, STATUS, AGE.
func namespaceListing(cl *kube.Cluster) listing {
	l := listing{head: []string{"NAME", "STATUS", "AGE"}}
	for name, labels := range cl.Store.NamespaceLabels() {
		created := cl.NamespaceCreated(name)
		o := corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, CreationTimestamp: metav1.NewTime(created)},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
		a := "<unknown>"
		if !created.IsZero() {
			a = age(created)
		}
		l.items = append(l.items, item{name: name, obj: o, cols: []string{name, "Active", a}})
	}
	return l
}
