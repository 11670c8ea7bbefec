package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"netlab/internal/inventory"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/kube"
)

// openCluster is the overlay lab --lab names (overlay by default), locked
// for a change when lock is set.
func openCluster(g *globals, c *cobra.Command, lock bool) (*kube.Cluster, func(), error) {
	name, err := g.labName("overlay")
	if err != nil {
		return nil, nil, err
	}
	if !inventory.Running(name) {
		return nil, nil, usagef("lab %s is not up: start the Kubernetes model with 'sudo netlab overlay-mode%s'", name, labFlag(name, "overlay"))
	}
	release := func() {}
	if lock {
		lk, err := state.Acquire(name, c.ErrOrStderr())
		if err != nil {
			return nil, nil, err
		}
		release = lk.Release
	}
	s, err := state.Load(name)
	if err != nil {
		release()
		return nil, nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		release()
		return nil, nil, err
	}
	mode, err := g.mode()
	if err != nil {
		release()
		return nil, nil, err
	}
	out := c.ErrOrStderr()
	if mode == netops.DryRun {
		out = c.OutOrStdout()
	}
	r := netops.NewRunner(mode, out)
	cl, err := kube.Open(s, exe, r)
	if err != nil {
		r.Close()
		release()
		return nil, nil, usagef("%v", err)
	}
	cl.Log = c.ErrOrStderr()
	if mode != netops.DryRun {
		mendController(c.ErrOrStderr(), cl.Exe, name, len(cl.Store.Pods))
	}
	if lock {
		if err := cl.Preflight(); err != nil {
			r.Close()
			release()
			return nil, nil, usagef("%v", err)
		}
		// What an interrupted command left (pods made, never recorded)
		// goes before anything else changes.
		gone, err := cl.SweepOrphans(context.Background())
		if err != nil {
			r.Close()
			release()
			return nil, nil, err
		}
		if len(gone) > 0 {
			fmt.Fprintf(c.ErrOrStderr(), "Note: removed %s that an interrupted command left, not in lab %s's records: %s\n",
				plural(len(gone), "pod namespace"), name, strings.Join(gone, " "))
		}
	}
	return cl, func() { r.Close(); release() }, nil
}

// readManifests reads every file given with -f (- is standard input), in
// order; one bad document refuses them all.
func readManifests(files []string, in io.Reader) ([]kube.Object, error) {
	if len(files) == 0 {
		return nil, usagef("give the manifests with -f FILE (or -f - for standard input)")
	}
	var all []kube.Object
	for _, file := range files {
		var data []byte
		var err error
		if file == "-" {
			data, err = readLimited(in)
		} else {
			var f *os.File
			if f, err = os.Open(file); err == nil {
				data, err = readLimited(f)
				f.Close()
			}
		}
		if err != nil {
			return nil, usagef("read %s: %v", file, err)
		}
		objs, err := kube.Parse(data)
		if err != nil {
			return nil, usagef("%s: %v", file, err)
		}
		all = append(all, objs...)
	}
	return all, nil
}

// maxManifest is the most a manifest file (or standard input) may hold:
// far more than any lab's manifests, and a bound on what is read.
const maxManifest = 4 << 20

// readLimited reads at most maxManifest bytes, and refuses more.
func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxManifest+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifest {
		return nil, fmt.Errorf("more than %d MiB: netlab reads manifests of at most that", maxManifest>>20)
	}
	return data, nil
}

func newApply(g *globals) *cobra.Command {
	var files []string
	c := &cobra.Command{
		Use:   "apply -f FILE|-",
		Short: "Apply Kubernetes manifests (Service, Deployment, Pod) to the Kubernetes-model lab, as kubectl apply does",
		Long: `Apply Kubernetes manifests, YAML or JSON, one or many documents (or a
List), to a running Kubernetes-model lab (--lab, default overlay). They are
read with the real API types, strictly: an unknown field, or one netlab does
not implement, is refused with its path, and nothing is applied.

Pods run the image netlab/web:TAG: a web server on the container's port
that answers with the pod's name, IP and node, and "the color is TAG".
Services get a ClusterIP from 10.96.0.0/12 (and NodePorts from
30000-32767), and every node gets kube-proxy's iptables rules for them.`,
		Example: "  sudo netlab apply -f examples/my-service.json\n  sudo netlab apply -f examples/myapp.yaml",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			objs, err := readManifests(files, c.InOrStdin())
			if err != nil {
				return err
			}
			if err := needRoot("apply"); err != nil {
				return err
			}
			cl, done, err := openCluster(g, c, true)
			if err != nil {
				return err
			}
			defer done()
			if err := cl.Refresh(context.Background()); err != nil {
				return err
			}
			objs, err = cl.Plan(objs)
			if err != nil {
				return usagef("%v", err)
			}
			for _, o := range objs {
				for _, w := range o.Warnings {
					fmt.Fprintf(c.ErrOrStderr(), "Warning: %s %s: %s\n", o.Doc, o.Name(), w)
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			if g.dryRun {
				fmt.Fprintf(c.OutOrStdout(), "# netlab apply --dry-run --lab %s: the commands it would run, changing nothing.\n", cl.S.Lab)
			}
			said, err := cl.Apply(ctx, objs)
			for _, s := range said {
				if g.dryRun {
					s = "# " + s + " (dry run)"
				}
				fmt.Fprintln(c.OutOrStdout(), s)
			}
			if !g.dryRun {
				keepWatching(c, cl)
			}
			return interrupted(ctx, cl, err)
		},
	}
	c.Flags().StringArrayVarP(&files, "filename", "f", nil, "the manifests: a file, or - for standard input (again for more)")
	return c
}

func newDelete(g *globals) *cobra.Command {
	var files []string
	c := &cobra.Command{
		Use:     "delete -f FILE | delete KIND NAME",
		Short:   "Delete Kubernetes objects from the Kubernetes-model lab",
		Example: "  sudo netlab delete -f examples/my-service.json\n  sudo netlab delete deployment myapp",
		Args: func(c *cobra.Command, args []string) error {
			if (len(files) > 0) == (len(args) > 0) || (len(files) == 0 && len(args) != 2) {
				return usagef("give -f FILE, or KIND NAME (see 'netlab delete --help')")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			var refs []kube.Ref
			if len(files) > 0 {
				objs, err := readManifests(files, c.InOrStdin())
				if err != nil {
					return err
				}
				for _, o := range objs {
					ns, name := o.Meta()
					refs = append(refs, kube.Ref{Kind: strings.ToLower(o.Kind()), Namespace: ns, Name: name})
				}
			} else {
				kind, ok := kubeKind(args[0])
				if !ok {
					return usagef("%q: netlab deletes service, deployment or pod", args[0])
				}
				refs = append(refs, kube.Ref{Kind: kind, Namespace: "default", Name: args[1]})
			}
			if err := needRoot("delete"); err != nil {
				return err
			}
			cl, done, err := openCluster(g, c, true)
			if err != nil {
				return err
			}
			defer done()
			said, err := cl.Delete(context.Background(), refs...)
			for _, s := range said {
				fmt.Fprintln(c.OutOrStdout(), s)
			}
			if err != nil {
				return err
			}
			if !g.dryRun {
				keepWatching(c, cl)
			}
			return nil
		},
	}
	c.Flags().StringArrayVarP(&files, "filename", "f", nil, "the manifests whose objects to delete")
	return c
}

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
	}
	return "", false
}

func newGet(g *globals) *cobra.Command {
	var output string
	var all bool
	c := &cobra.Command{
		Use:     "get pods|services|deployments|replicasets|endpoints [NAME] [-o wide|json|yaml]",
		Short:   "List the Kubernetes objects of the Kubernetes-model lab, with kubectl's columns",
		Example: "  sudo netlab get pods -o wide\n  sudo netlab get endpoints my-service",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("get takes a kind (pods, services, deployments, replicasets, endpoints) and maybe a name")
			}
			if _, ok := kubeKind(args[0]); !ok {
				return usagef("%q: netlab gets pods, services, deployments, replicasets or endpoints", args[0])
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
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			ns := "default"
			if all {
				ns = ""
			}
			return printGet(c.OutOrStdout(), cl, kind, name, output, ns)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "wide, json or yaml")
	c.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace (kube-system's cluster DNS too), not only default")
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

func printGet(w io.Writer, cl *kube.Cluster, kind, name, output, namespace string) error {
	in := func(ns string) bool { return namespace == "" || ns == namespace }
	structured := output == "json" || output == "yaml"
	// With -A, kubectl's first column is the namespace.
	nsCol := func(ns string) string {
		if namespace == "" {
			return ns + "\t"
		}
		return ""
	}
	nsHead := nsCol("NAMESPACE")
	st := cl.Store
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	defer tw.Flush()
	var rows []any
	found := false
	switch kind {
	case "pod":
		if !structured {
			head := nsHead + "NAME\tREADY\tSTATUS\tRESTARTS\tAGE"
			if output == "wide" {
				head += "\tIP\tNODE"
			}
			fmt.Fprintln(tw, head)
		}
		for _, p := range st.Pods {
			if (name != "" && p.Name != name) || !in(p.Namespace) {
				continue
			}
			found = true
			if structured {
				rows = append(rows, p)
				continue
			}
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
			line := nsCol(p.Namespace) + fmt.Sprintf("%s\t%d/%d\t%s\t%s\t%s", p.Name, ready, len(p.Template.Containers), status, restarts, age(p.Created))
			if output == "wide" {
				line += fmt.Sprintf("\t%s\t%s", p.IP, p.Node)
			}
			fmt.Fprintln(tw, line)
		}
	case "service":
		if !structured {
			head := nsHead + "NAME\tTYPE\tCLUSTER-IP\tEXTERNAL-IP\tPORT(S)\tAGE"
			if output == "wide" {
				head += "\tSELECTOR"
			}
			fmt.Fprintln(tw, head)
		}
		for _, s := range st.Services {
			if (name != "" && s.Name != name) || !in(s.Namespace) {
				continue
			}
			found = true
			if structured {
				rows = append(rows, s)
				continue
			}
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
			line := nsCol(s.Namespace) + fmt.Sprintf("%s\t%s\t%s\t<none>\t%s\t%s", s.Name, s.Type, ip, strings.Join(ports, ","), age(s.Created))
			if output == "wide" {
				line += "\t" + selectorText(s.Selector)
			}
			fmt.Fprintln(tw, line)
		}
	case "endpoints":
		if !structured {
			fmt.Fprintln(tw, nsHead+"NAME\tENDPOINTS\tAGE")
		}
		for _, s := range st.Services {
			if (name != "" && s.Name != name) || !in(s.Namespace) {
				continue
			}
			found = true
			eps := cl.Endpoints(s)
			if structured {
				rows = append(rows, map[string]any{"namespace": s.Namespace, "name": s.Name, "endpoints": eps})
				continue
			}
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
			fmt.Fprintf(tw, "%s%s\t%s\t%s\n", nsCol(s.Namespace), s.Name, text, age(s.Created))
		}
	case "deployment":
		if !structured {
			fmt.Fprintln(tw, "NAME\tREADY\tUP-TO-DATE\tAVAILABLE\tAGE")
		}
		for _, d := range st.Deployments {
			if name != "" && d.Name != name {
				continue
			}
			found = true
			if structured {
				rows = append(rows, d)
				continue
			}
			ready := 0
			for _, p := range st.Pods {
				if p.Owner == d.Namespace+"/"+d.Name && p.Ready {
					ready++
				}
			}
			fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%s\n", d.Name, ready, d.Replicas, d.Replicas, ready, age(d.Created))
		}
	}
	if kind == "replicaset" {
		if !structured {
			fmt.Fprintln(tw, nsHead+"NAME\tDESIRED\tCURRENT\tREADY\tAGE")
		}
		for _, d := range st.Deployments {
			if !in(d.Namespace) {
				continue
			}
			for i, r := range d.Revisions {
				rs := d.Name + "-" + r.Hash
				if name != "" && rs != name {
					continue
				}
				found = true
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
				if structured {
					rows = append(rows, map[string]any{"namespace": d.Namespace, "name": rs, "revision": r.Number, "desired": desired, "current": current, "ready": ready, "template": r.Template})
					continue
				}
				fmt.Fprintf(tw, "%s%s\t%d\t%d\t%d\t%s\n", nsCol(d.Namespace), rs, desired, current, ready, age(d.Created))
			}
		}
	}
	if name != "" && !found {
		return usagef("%s %q not found", kind, name)
	}
	if output == "yaml" {
		tw.Flush()
		if rows == nil {
			rows = []any{}
		}
		data, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": rows})
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
	if output == "json" {
		tw.Flush()
		if rows == nil {
			rows = []any{}
		}
		return writeJSON(w, map[string]any{"apiVersion": "v1", "kind": "List", "items": rows})
	}
	return nil
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

// deploymentRef reads deployment/NAME (or deploy/NAME, deployments/NAME).
func deploymentRef(s string) (string, error) {
	kind, name, ok := strings.Cut(s, "/")
	if k, known := kubeKind(kind); !ok || !known || k != "deployment" || name == "" {
		return "", usagef("%q: give deployment/NAME", s)
	}
	return name, nil
}

// kubeVerb runs f on the lab's cluster, locked, after probing its pods
// again (so that rules follow pods that turned Ready or unready).
func kubeVerb(g *globals, c *cobra.Command, verb string, f func(ctx context.Context, cl *kube.Cluster) (string, error)) error {
	if err := needRoot(verb); err != nil {
		return err
	}
	cl, done, err := openCluster(g, c, true)
	if err != nil {
		return err
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := cl.Refresh(ctx); err != nil {
		return err
	}
	said, err := f(ctx, cl)
	if said != "" {
		if g.dryRun {
			said = "# " + said + " (dry run)"
		}
		fmt.Fprintln(c.OutOrStdout(), said)
	}
	if !g.dryRun {
		keepWatching(c, cl)
	}
	return interrupted(ctx, cl, err)
}

// interrupted keeps what a command interrupted by a signal (Ctrl-C,
// SIGTERM, SIGHUP) had made: the cluster's records are saved as they
// are, so its pods are listed and its rollout goes on in the lab's
// controller, as a Kubernetes rollout goes on when kubectl stops
// watching. (A kill -9 saves nothing: the next command, or the
// controller, removes the pods it made and never recorded.)
func interrupted(ctx context.Context, cl *kube.Cluster, err error) error {
	if ctx.Err() == nil || cl.Dry() {
		return err
	}
	if serr := cl.Save(); serr != nil {
		return fmt.Errorf("interrupted, and what it made could not be recorded: %w", serr)
	}
	return fmt.Errorf("interrupted: what was made is kept, and the lab's controller goes on with any rollout ('netlab get deployments%s' shows where it stands)", labFlag(cl.S.Lab, "overlay"))
}

// mendController starts lab's controller again if it should run (the lab
// has pods) and does not (it was killed, or crashed), and says so: until
// it runs again, a pod that turns unready stays in its Services' rules
// while 'get endpoints' leaves it out.
func mendController(w io.Writer, exe, lab string, pods int) {
	if pods == 0 || kube.ControllerRunning(lab) {
		return
	}
	if _, err := kube.EnsureController(exe, lab); err != nil {
		fmt.Fprintf(w, "Warning: lab %s's controller (%s) is not running and did not start again: %v\n", lab, names.ControllerName, err)
		return
	}
	fmt.Fprintf(w, "Note: lab %s's controller (%s), which keeps Services on the pods that are Ready, was not running: netlab started it again (its log: %s).\n",
		lab, names.ControllerName, filepath.Join(state.Dir(lab), "controller.log"))
}

// keepWatching makes sure the lab's controller runs, which keeps its
// Services on the pods that are Ready between commands.
func keepWatching(c *cobra.Command, cl *kube.Cluster) {
	if len(cl.Store.Pods) == 0 {
		return
	}
	if _, err := kube.EnsureController(cl.Exe, cl.S.Lab); err != nil {
		fmt.Fprintf(c.ErrOrStderr(), "Warning: the lab's controller did not start (%v): pods that turn unready stay in their Services until the next netlab command\n", err)
	}
}

// newController is the lab's controller process (kube.RunController),
// which netlab apply starts; it is no command for people.
func newController(g *globals) *cobra.Command {
	var host string
	c := &cobra.Command{Use: names.ControllerName, Hidden: true, Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			name, err := g.chosen()
			if err != nil || name == "" || host != "kube" {
				return usagef("netlab-kube needs --lab LAB --host kube: netlab apply starts it")
			}
			if err := needRoot(names.ControllerName); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			return kube.RunController(ctx, name, exe)
		}}
	c.Flags().StringVar(&host, "host", "", "kube")
	return c
}

func newRollout(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "rollout status|history|undo|pause|resume deployment/NAME",
		Short: "Watch, undo, pause and resume a Deployment's rollouts, as kubectl rollout does",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown rollout verb %q: status, history, undo, pause or resume", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	one := func(use, short string, f func(ctx context.Context, cl *kube.Cluster, name string) (string, error)) *cobra.Command {
		return &cobra.Command{Use: use + " deployment/NAME", Short: short,
			Args: func(c *cobra.Command, args []string) error {
				if len(args) != 1 {
					return usagef("rollout %s takes deployment/NAME", use)
				}
				_, err := deploymentRef(args[0])
				return err
			},
			RunE: func(c *cobra.Command, args []string) error {
				name, _ := deploymentRef(args[0])
				return kubeVerb(g, c, "rollout "+use, func(ctx context.Context, cl *kube.Cluster) (string, error) {
					return f(ctx, cl, name)
				})
			}}
	}
	var to int
	undo := one("undo", "roll back to the revision before (or --to-revision N)", func(ctx context.Context, cl *kube.Cluster, name string) (string, error) {
		return cl.Undo(ctx, "default", name, to)
	})
	undo.Flags().IntVar(&to, "to-revision", 0, "the revision to roll back to (default: the one before)")
	c.AddCommand(
		newRolloutStatus(g),
		one("history", "the revisions rolled out", func(ctx context.Context, cl *kube.Cluster, name string) (string, error) {
			revs, err := cl.History("default", name)
			if err != nil {
				return "", err
			}
			var b strings.Builder
			fmt.Fprintf(&b, "deployment.apps/%s\nREVISION  IMAGES\n", name)
			for _, r := range revs {
				var imgs []string
				for _, ct := range r.Template.Containers {
					imgs = append(imgs, ct.Name+"=netlab/web:"+ct.Tag)
				}
				fmt.Fprintf(&b, "%-9d %s\n", r.Number, strings.Join(imgs, ","))
			}
			return strings.TrimRight(b.String(), "\n"), nil
		}),
		undo,
		one("pause", "stop rolling out template changes", func(ctx context.Context, cl *kube.Cluster, name string) (string, error) {
			return cl.Pause(ctx, "default", name, true)
		}),
		one("resume", "roll out what changed while paused", func(ctx context.Context, cl *kube.Cluster, name string) (string, error) {
			return cl.Pause(ctx, "default", name, false)
		}),
	)
	return c
}

// newRolloutStatus watches a rollout until it is complete, as kubectl
// rollout status does: a line each time it moves; exit 1 when it stalls,
// is paused, or --timeout passes. It reads without the lab's lock, so that
// the commands and the controller that move the rollout go on meanwhile.
func newRolloutStatus(g *globals) *cobra.Command {
	watch := true
	var timeout time.Duration
	c := &cobra.Command{Use: "status deployment/NAME", Short: "watch the rollout until it is complete (--watch=false: say where it is; exit 1 until complete)",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("rollout status takes deployment/NAME")
			}
			_, err := deploymentRef(args[0])
			return err
		},
		RunE: func(c *cobra.Command, args []string) error {
			name, _ := deploymentRef(args[0])
			if err := needRoot("rollout status"); err != nil {
				return err
			}
			if timeout < 0 {
				return usagef("--timeout %s: 0 (no limit) or more", timeout)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			start, last := time.Now(), ""
			for {
				cl, done, err := openCluster(g, c, false)
				if err != nil {
					return err
				}
				line, complete, err := cl.Status("default", name)
				done()
				if err != nil {
					return usagef("%v", err)
				}
				if line != last {
					fmt.Fprintln(c.OutOrStdout(), line)
					last = line
				}
				switch {
				case complete:
					return nil
				case !watch || strings.Contains(line, "exceeded its progress deadline") || strings.Contains(line, "is paused"):
					return &exitError{code: exitFailed}
				case timeout > 0 && time.Since(start) > timeout:
					fmt.Fprintf(c.ErrOrStderr(), "netlab: timed out after %s waiting for deployment %q to roll out\n", timeout, name)
					return &exitError{code: exitFailed}
				}
				select {
				case <-ctx.Done():
					return &exitError{code: exitFailed}
				case <-time.After(500 * time.Millisecond):
				}
			}
		}}
	c.Flags().BoolVarP(&watch, "watch", "w", true, "wait until the rollout is complete (false: say where it is, exit 1 until complete)")
	c.Flags().DurationVar(&timeout, "timeout", 0, "give up waiting after this long (0: no limit)")
	return c
}

func newScale(g *globals) *cobra.Command {
	var replicas decimal = -1
	c := &cobra.Command{
		Use:   "scale deployment/NAME --replicas N",
		Short: "Set a Deployment's number of pods",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("scale takes deployment/NAME")
			}
			if !c.Flags().Changed("replicas") {
				return usagef("scale needs --replicas N")
			}
			_, err := deploymentRef(args[0])
			return err
		},
		RunE: func(c *cobra.Command, args []string) error {
			name, _ := deploymentRef(args[0])
			if replicas < 0 || replicas > 256 {
				return usagef("--replicas %d: from 0 to 256 in this lab", replicas)
			}
			return kubeVerb(g, c, "scale", func(ctx context.Context, cl *kube.Cluster) (string, error) {
				return cl.Scale(ctx, "default", name, int(replicas))
			})
		},
	}
	c.Flags().Var(&replicas, "replicas", "the number of pods")
	return c
}

func newSet(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "set image deployment/NAME CONTAINER=IMAGE", Short: "Change a Deployment's image, which rolls it out",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("netlab set takes image")
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() }}
	c.AddCommand(&cobra.Command{Use: "image deployment/NAME CONTAINER=IMAGE", Short: "change a container's image",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 || !strings.Contains(args[1], "=") {
				return usagef("set image takes deployment/NAME CONTAINER=IMAGE")
			}
			_, err := deploymentRef(args[0])
			return err
		},
		RunE: func(c *cobra.Command, args []string) error {
			name, _ := deploymentRef(args[0])
			container, img, _ := strings.Cut(args[1], "=")
			return kubeVerb(g, c, "set image", func(ctx context.Context, cl *kube.Cluster) (string, error) {
				return cl.SetImage(ctx, "default", name, container, img)
			})
		}})
	return c
}

// newDNSServer is the cluster DNS's own process (kube.ServeDNS), which
// netlab apply starts in the DNS pod; it is no command for people.
func newDNSServer(g *globals) *cobra.Command {
	var host string
	c := &cobra.Command{Use: names.DNSName, Hidden: true, Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			name, err := g.chosen()
			if err != nil || name == "" {
				return usagef("netlab-dns needs --lab: netlab apply starts it")
			}
			if !names.NodeRE.MatchString(host) {
				return usagef("netlab-dns needs --host NODE")
			}
			if err := needRoot(names.DNSName); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			tell := os.NewFile(3, "ready")
			return kube.ServeDNS(ctx, name, func(err error) {
				if err != nil {
					fmt.Fprintln(tell, err)
				} else {
					fmt.Fprintln(tell, "ready")
				}
				tell.Close()
			})
		}}
	c.Flags().StringVar(&host, "host", "", "the node whose pod it serves in")
	return c
}
