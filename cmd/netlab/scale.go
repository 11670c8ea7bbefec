package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"netlab/kube"
)

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
			ns, err := g.ns()
			if err != nil {
				return err
			}
			if replicas < 0 || replicas > 256 {
				return usagef("--replicas %d: from 0 to 256 in this lab", replicas)
			}
			return kubeVerb(g, c, "scale", func(ctx context.Context, cl *kube.Cluster) (string, error) {
				return cl.Scale(ctx, ns, name, int(replicas))
			})
		},
	}
	c.Flags().Var(&replicas, "replicas", "the number of pods")
	namespaceFlag(g, c)
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
			ns, err := g.ns()
			if err != nil {
				return err
			}
			container, img, _ := strings.Cut(args[1], "=")
			return kubeVerb(g, c, "set image", func(ctx context.Context, cl *kube.Cluster) (string, error) {
				return cl.SetImage(ctx, ns, name, container, img)
			})
		}})
	namespaceFlag(g, c)
	return c
}
