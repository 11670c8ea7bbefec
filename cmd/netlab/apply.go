package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"netlab/kube"
)

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
		Short: "Apply Kubernetes manifests (Service, Deployment, Pod, Namespace, NetworkPolicy) to the Kubernetes-model lab, as kubectl apply does",
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
			return finish(ctx, g, c, cl, said, err)
		},
	}
	c.Flags().StringArrayVarP(&files, "filename", "f", nil, "the manifests: a file, or - for standard input (again for more)")
	return c
}
