package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"netlab/bridge"
	"netlab/internal/names"
	"netlab/kube"
)

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

// newDNSServer is the cluster DNS's own process (kube.ServeDNS), which
// netlab apply starts in the DNS pod (and the outside host's DNS in the
// outside host); it is no command for people.
func newDNSServer(g *globals) *cobra.Command {
	return server(g, names.DNSName, "the node whose pod it serves in, or the outside host", kube.ServeDNS)
}

// newDockerDNS is Docker's embedded DNS on one node of a docker-mode lab
// (bridge.ServeEmbeddedDNS), which docker-mode starts when the lab has
// user-defined networks; it is no command for people.
func newDockerDNS(g *globals) *cobra.Command {
	return server(g, names.DockerDNSName, "the node whose containers it serves", bridge.ServeEmbeddedDNS)
}

// newAPIServer is the listener behind default/kubernetes (kube.ServeAPI),
// which netlab apply starts on the control-plane node; it is no command
// for people.
func newAPIServer(g *globals) *cobra.Command {
	return server(g, names.APIName, "the control-plane node it listens on", func(ctx context.Context, lab, _ string, ready func(error)) error {
		return kube.ServeAPI(ctx, lab, ready)
	})
}

// server is a lab's server process: it serves until a signal, and tells
// the netlab that started it (on file 3) that it listens, or why not.
func server(g *globals, use, hostUsage string, serve func(ctx context.Context, lab, host string, ready func(error)) error) *cobra.Command {
	var host string
	c := &cobra.Command{Use: use, Hidden: true, Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			name, err := g.chosen()
			if err != nil || name == "" {
				return usagef("%s needs --lab: netlab apply starts it", use)
			}
			if !names.NodeRE.MatchString(host) {
				return usagef("%s needs --host NODE", use)
			}
			if err := needRoot(use); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			tell := os.NewFile(3, "ready")
			return serve(ctx, name, host, func(err error) {
				if err != nil {
					fmt.Fprintln(tell, err)
				} else {
					fmt.Fprintln(tell, "ready")
				}
				tell.Close()
			})
		}}
	c.Flags().StringVar(&host, "host", "", hostUsage)
	return c
}
