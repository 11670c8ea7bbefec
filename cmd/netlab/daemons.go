package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

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
			return kube.ServeDNS(ctx, name, host, func(err error) {
				if err != nil {
					fmt.Fprintln(tell, err)
				} else {
					fmt.Fprintln(tell, "ready")
				}
				tell.Close()
			})
		}}
	c.Flags().StringVar(&host, "host", "", "the node whose pod it serves in, or the outside host")
	return c
}
