package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"netlab/internal/inventory"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/kube"
)

func newExec(g *globals) *cobra.Command {
	var container string
	c := &cobra.Command{
		Use:   "exec NAME [-c CONTAINER] -- COMMAND [ARGS...]",
		Short: "Run a command inside a container, pod, node or the outside host",
		Long: `Run a command inside the network namespace of a container, a pod, a node or
the outside host: 'ip netns exec <lab>-NAME COMMAND'. The command's exit code
is netlab's.

The containers of a pod share its namespace. -c CONTAINER (app or sidecar)
runs the command in that container by joining the namespaces of its process,
as 'kubectl exec -c' does: 'nsenter --target PID --net COMMAND'.`,
		Example: "  sudo netlab exec c1 -- ping -c1 172.17.0.3\n  sudo netlab exec outside -- curl -s 192.168.56.11:8080\n  sudo netlab exec pod1 -c sidecar -- curl -s localhost:9376",
		RunE: func(c *cobra.Command, args []string) error {
			name, argv, err := execArgs(g, args, &container)
			if err != nil {
				return err
			}
			chosen, err := g.chosen()
			if err != nil {
				return err
			}
			if err := needRoot("exec"); err != nil {
				return err
			}
			_, ns, w, err := findName(chosen, name)
			if err != nil {
				return err
			}
			var full []string
			switch {
			case container != "":
				if w == nil || len(w.Containers) == 0 {
					return usagef("-c %s: %s is not one of overlay-mode's pods, whose containers -c picks (a container's processes share its pod's network namespace: leave -c out)", container, name)
				}
				if !contains(w.Containers, container) {
					return usagef("-c %s: pod %s has the containers %s", container, name, strings.Join(w.Containers, ", "))
				}
				pid, err := inventory.ContainerPID(*w, container)
				if err != nil {
					return err
				}
				full = append([]string{"nsenter", "--target", fmt.Sprint(pid), "--net", "--"}, argv...)
			case ns == netops.Host:
				full = argv
			default:
				full = append([]string{"ip", "netns", "exec", string(ns)}, argv...)
			}
			if g.explain || g.dryRun {
				fmt.Fprintln(c.ErrOrStderr(), "+ "+joinQuoted(full))
				if g.dryRun {
					return nil
				}
			}
			path, err := exec.LookPath(full[0])
			if err != nil {
				return fmt.Errorf("%s: not found: install it (make deps installs the lab's tools)", full[0])
			}
			tellSupervisor('x') // the command's exit code is netlab's
			err = syscall.Exec(path, full, os.Environ())
			return fmt.Errorf("exec %s: %w", path, err)
		},
	}
	c.Flags().SetInterspersed(false)
	c.Flags().StringVarP(&container, "container", "c", "", "a container of the pod (app or sidecar)")
	return c
}

// execArgs splits exec's arguments, which start at NAME (flags before it
// are cobra's): netlab's own flags (-c, --lab, --explain, --dry-run) may
// stand anywhere between NAME and "--", as kubectl exec takes them; the
// command is what follows "--", or starts at the first word that is not
// one of those flags.
func execArgs(g *globals, args []string, container *string) (string, []string, error) {
	usage := usagef("usage: netlab exec NAME [-c CONTAINER] -- COMMAND [ARGS...], e.g. netlab exec c1 -- ping -c1 172.17.0.3")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", nil, usage
	}
	name, rest := args[0], args[1:]
	for len(rest) > 0 {
		a := rest[0]
		if a == "--" {
			rest = rest[1:]
			break
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
		flag, val, hasVal := strings.Cut(a, "=")
		switch flag {
		case "--explain", "--dry-run":
			if hasVal {
				return "", nil, usagef("%s takes no value", flag)
			}
			if flag == "--explain" {
				g.explain = true
			} else {
				g.dryRun = true
			}
			rest = rest[1:]
			continue
		case "-c", "--container", "--lab":
		default:
			return "", nil, usagef("unknown flag %s before the command: put the command after '--' (netlab exec %s -- COMMAND)", a, name)
		}
		if !hasVal {
			if len(rest) < 2 {
				return "", nil, usagef("%s needs a value", flag)
			}
			val, rest = rest[1], rest[1:]
		}
		if flag == "--lab" {
			_ = g.lab.Set(val)
		} else {
			*container = val
		}
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return "", nil, usage
	}
	return name, rest, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// findName finds the namespace of a container, pod, node or outside host,
// in the lab given or in whichever running lab has it, the workload if it
// is one, and the lab's state.
// findPod is the pod of lab's Services and Deployments (netlab apply)
// called name, or NAMESPACE/NAME (pods of two namespaces may share a
// name: the NetworkPolicy probe's x/a, y/a); nil when none is, an error
// when the bare name is several pods'.
func findPod(ks kube.Store, lab, name string) (*kube.Pod, error) {
	podNS, podName, namespaced := strings.Cut(name, "/")
	if !namespaced {
		podNS, podName = "", name
	}
	var same []string
	var found *kube.Pod
	for i, p := range ks.Pods {
		if p.Name != podName || (namespaced && p.Namespace != podNS) {
			continue
		}
		same = append(same, p.Namespace+"/"+p.Name)
		if len(same) > 1 {
			return nil, usagef("pods %s share the name %q in lab %q: say which as NAMESPACE/NAME", strings.Join(same, " and "), name, lab)
		}
		found = &ks.Pods[i]
	}
	return found, nil
}

func findName(labName, name string) (*state.State, netops.NS, *state.Workload, error) {
	labs := state.StateLabs()
	if labName != "" {
		labs = []string{labName}
	}
	var found []string
	var st *state.State
	var ns netops.NS
	var wl *state.Workload
	for _, l := range labs {
		s, err := state.Load(l)
		if err != nil {
			continue
		}
		if s.Peer(name) {
			return nil, "", nil, usagef("%s is another machine, a peer of this node in lab %q: run the command there (vagrant ssh %s), or pick a container, pod or this node", name, l, name)
		}
		if n, ok := s.Find(name); ok {
			found, st, ns, wl = append(found, l), s, n, s.Workload(name)
			continue
		}
		// A pod of the lab's Services and Deployments (netlab apply), by
		// name or as NAMESPACE/NAME (pods of two namespaces may share a
		// name: the NetworkPolicy probe's x/a, y/a).
		ks, _ := kube.LoadStore(l)
		p, err := findPod(ks, l, name)
		if err != nil {
			return nil, "", nil, err
		}
		if p == nil {
			continue
		}
		if !s.Topology.IsLocal(p.Node) {
			return nil, "", nil, usagef("pod %s runs on %s, another machine of lab %q: run the command there (vagrant ssh %s)", name, p.Node, l, p.Node)
		}
		// A workload like overlay-mode's pods: its eth0 in its own
		// namespace (capture, trace), its containers not each its own
		// process to enter (-c).
		found, st, ns = append(found, l), s, p.NS
		wl = &state.Workload{Name: p.Name, Kind: "pod", Node: p.Node, NS: p.NS, IP: p.IP, IP6: p.IP6, HostIface: p.HostIface}
	}
	switch len(found) {
	case 1:
		return st, ns, wl, nil
	case 0:
		if labName != "" {
			return nil, "", nil, usagef("lab %q has no container, pod or host called %q: 'netlab status --lab %s' lists them", labName, name, labName)
		}
		if len(labs) == 0 {
			return nil, "", nil, usagef("no lab is up: start one with 'sudo netlab docker-mode'")
		}
		return nil, "", nil, usagef("no container, pod or host called %q: 'netlab status' lists them", name)
	}
	return nil, "", nil, usagef("%q is in labs %s: say which with --lab", name, strings.Join(found, " and "))
}

func joinQuoted(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += netops.Quote(a)
	}
	return s
}
