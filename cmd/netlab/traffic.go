package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/kube"
)

// second is what one second of traffic got: answers per version, failures.
type second struct {
	Time   string         `json:"time"`
	Colors map[string]int `json:"colors"`
	Failed int            `json:"failed"`
}

func newTraffic(g *globals) *cobra.Command {
	var from string
	duration := seconds(30 * time.Second)
	var rate decimal = 20
	var asJSON bool
	c := &cobra.Command{
		Use:   "traffic svc/NAME|IP:PORT [--from POD] [--duration D] [--rate N]",
		Short: "Send requests in a loop from a pod and chart, per second, which version answered",
		Long: `Send requests (a new TCP connection each) from a pod to a Service or an
address, and draw one line per second: how many answers came from each
version (the color netlab/web says) and how many failed. Run it while a
rolling update, a canary or a blue-green switch happens, to watch it.`,
		Example: "  sudo netlab traffic svc/web\n  sudo netlab traffic svc/my-service --from pod3 --rate 50 --duration 1m",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("traffic takes svc/NAME or IP:PORT")
			}
			if rate < 1 || rate > 1000 {
				return usagef("--rate %d: from 1 to 1000 requests a second", rate)
			}
			if duration <= 0 || time.Duration(duration) > time.Hour {
				return usagef("--duration %s: more than 0 and at most an hour", duration.String())
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := needRoot("traffic"); err != nil {
				return err
			}
			cl, done, err := openCluster(g, c, false)
			if err != nil {
				return err
			}
			done()
			to, err := trafficTarget(cl, args[0])
			if err != nil {
				return err
			}
			ns, err := trafficSource(cl.S, cl, &from)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(duration))
			defer cancel()
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := c.OutOrStdout()
			if !asJSON {
				fmt.Fprintf(out, "netlab traffic: %s → %s, %d requests a second (Ctrl-C stops)\n", from, to, rate)
			}
			tty := isTerminal(os.Stdout) && !asJSON
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			cur := second{Colors: map[string]int{}}
			start := time.Now()
			next := start.Add(time.Second)
			results := make(chan string, 1024)
			for {
				select {
				case <-ctx.Done():
					flushSecond(out, &cur, start, asJSON, tty)
					return nil
				case r := <-results:
					if r == "" {
						cur.Failed++
					} else {
						cur.Colors[r]++
					}
				case now := <-tick.C:
					if now.After(next) {
						flushSecond(out, &cur, start, asJSON, tty)
						next = next.Add(time.Second)
					}
					go func() { results <- askColor(ns, to) }()
				}
			}
		},
	}
	c.Flags().StringVar(&from, "from", "", "the pod that sends (a pod of the lab, or of a Deployment; by default the lab's first pod on this machine)")
	c.Flags().Var(&duration, "duration", "how long: seconds (30), or a duration (1m)")
	c.Flags().Var(&rate, "rate", "requests a second")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object a second, for scripts")
	return c
}

// trafficTarget reads svc/NAME (its ClusterIP and first port) or IP:PORT.
func trafficTarget(cl *kube.Cluster, arg string) (netip.AddrPort, error) {
	if name, ok := strings.CutPrefix(arg, "svc/"); ok {
		for _, s := range cl.Store.Services {
			if s.Name == name && s.Namespace == "default" && s.ClusterIP.IsValid() && len(s.Ports) > 0 {
				return netip.AddrPortFrom(s.ClusterIP, uint16(s.Ports[0].Port)), nil
			}
		}
		return netip.AddrPort{}, usagef("no Service %q with a ClusterIP ('netlab get services' lists them)", name)
	}
	arg = strings.TrimSuffix(strings.TrimPrefix(arg, "http://"), "/")
	ap, err := netip.ParseAddrPort(arg)
	if err != nil {
		return netip.AddrPort{}, usagef("%q is not svc/NAME or IP:PORT", arg)
	}
	return ap, nil
}

// trafficSource is the namespace of a pod of the lab or of a Deployment
// on this machine; with no name, the lab's first pod here.
func trafficSource(s *state.State, cl *kube.Cluster, name *string) (netops.NS, error) {
	if *name == "" {
		for _, w := range s.Workloads {
			if w.Kind == "pod" {
				*name = w.Name
				return w.NS, nil
			}
		}
	}
	if w := s.Workload(*name); w != nil {
		return w.NS, nil
	}
	for _, p := range cl.Store.Pods {
		if p.Name == *name || (*name == "" && p.System == "" && s.Topology.IsLocal(p.Node)) {
			if !s.Topology.IsLocal(p.Node) {
				return "", usagef("pod %s runs on %s, another machine: run traffic there, or pick a pod of this one with --from", p.Name, p.Node)
			}
			*name = p.Name
			return p.NS, nil
		}
	}
	if s.Peer(*name) || *name == "" {
		return "", usagef("no pod %q on this machine: pick one with --from ('netlab status' and 'netlab get pods -o wide' list them)", *name)
	}
	return "", usagef("no pod %q in lab %s ('netlab status' and 'netlab get pods' list them)", *name, s.Lab)
}

// askColor asks once and returns the color that answered ("" on failure;
// the answering pod's name when it says no color).
func askColor(ns netops.NS, to netip.AddrPort) string {
	var c net.Conn
	err := netops.Do(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp4", to.String(), time.Second)
		return err
	})
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", to); err != nil {
		return ""
	}
	body, err := io.ReadAll(bufio.NewReader(c))
	if err != nil || !strings.HasPrefix(string(body), "HTTP/1.0 200") {
		return ""
	}
	if _, color, ok := strings.Cut(string(body), "the color is "); ok {
		return strings.TrimSpace(color)
	}
	if _, rest, ok := strings.Cut(string(body), "name="); ok {
		return strings.Fields(rest)[0]
	}
	return "?"
}

var ansi = map[string]string{"red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36"}

// flushSecond prints a second of traffic and starts the next.
func flushSecond(w io.Writer, cur *second, start time.Time, asJSON, tty bool) {
	cur.Time = fmt.Sprintf("%.0fs", time.Since(start).Seconds())
	if asJSON {
		_ = json.NewEncoder(w).Encode(cur) // one line a second
	} else {
		var keys []string
		for k := range cur.Colors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		line := fmt.Sprintf("%5s ", cur.Time)
		for _, k := range keys {
			bar := strings.Repeat("█", min(cur.Colors[k], 60))
			if code, ok := ansi[k]; ok && tty {
				bar = "\033[" + code + "m" + bar + "\033[0m"
			}
			line += fmt.Sprintf(" %s %3d %s", k, cur.Colors[k], bar)
		}
		if cur.Failed > 0 {
			line += fmt.Sprintf("  failed %d", cur.Failed)
		}
		fmt.Fprintln(w, line)
	}
	*cur = second{Colors: map[string]int{}}
}
