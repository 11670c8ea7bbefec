package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"netlab/kube"
)

// deploymentRef reads deployment/NAME (or deploy/NAME, deployments/NAME).
func deploymentRef(s string) (string, error) {
	kind, name, ok := strings.Cut(s, "/")
	if k, known := kubeKind(kind); !ok || !known || k != "deployment" || name == "" {
		return "", usagef("%q: give deployment/NAME", s)
	}
	return name, nil
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
	one := func(use, short string, f func(ctx context.Context, cl *kube.Cluster, ns, name string) (string, error)) *cobra.Command {
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
				ns, err := g.ns()
				if err != nil {
					return err
				}
				return kubeVerb(g, c, "rollout "+use, func(ctx context.Context, cl *kube.Cluster) (string, error) {
					return f(ctx, cl, ns, name)
				})
			}}
	}
	var to int
	undo := one("undo", "roll back to the revision before (or --to-revision N)", func(ctx context.Context, cl *kube.Cluster, ns, name string) (string, error) {
		return cl.Undo(ctx, ns, name, to)
	})
	undo.Flags().IntVar(&to, "to-revision", 0, "the revision to roll back to (default: the one before)")
	c.AddCommand(
		newRolloutStatus(g),
		one("history", "the revisions rolled out", func(ctx context.Context, cl *kube.Cluster, ns, name string) (string, error) {
			revs, err := cl.History(ns, name)
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
		one("pause", "stop rolling out template changes", func(ctx context.Context, cl *kube.Cluster, ns, name string) (string, error) {
			return cl.Pause(ctx, ns, name, true)
		}),
		one("resume", "roll out what changed while paused", func(ctx context.Context, cl *kube.Cluster, ns, name string) (string, error) {
			return cl.Pause(ctx, ns, name, false)
		}),
	)
	namespaceFlag(g, c)
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
			ns, err := g.ns()
			if err != nil {
				return err
			}
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
				line, complete, err := cl.Status(ns, name)
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
