package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"netlab/kube"
)

func newDelete(g *globals) *cobra.Command {
	var files []string
	c := &cobra.Command{
		Use:     "delete -f FILE | delete KIND NAME...",
		Short:   "Delete Kubernetes objects from the Kubernetes-model lab",
		Example: "  sudo netlab delete -f examples/my-service.json\n  sudo netlab delete deployment myapp\n  sudo netlab delete networkpolicy default-deny -n x\n  sudo netlab delete namespace x y z",
		Args: func(c *cobra.Command, args []string) error {
			if (len(files) > 0) == (len(args) > 0) || (len(files) == 0 && len(args) < 2) {
				return usagef("give -f FILE, or KIND NAME... (see 'netlab delete --help')")
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
					return usagef("%q: netlab deletes service, deployment, pod, networkpolicy or namespace", args[0])
				}
				ns, err := g.ns()
				if err != nil {
					return err
				}
				if kind == "namespace" {
					ns = "" // namespaces are in none
				}
				for _, name := range args[1:] {
					refs = append(refs, kube.Ref{Kind: kind, Namespace: ns, Name: name})
				}
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
	namespaceFlag(g, c)
	return c
}
