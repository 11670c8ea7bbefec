package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"netlab/compare"
	"netlab/internal/api"
	"netlab/internal/inventory"
	"netlab/internal/names"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/trace"
	"netlab/web"
	"netlab/workshop"
)

func newWeb(g *globals) *cobra.Command {
	var listen string
	var hosts []string
	var room bool
	var b webBackend
	c := &cobra.Command{
		Use:   "web [--listen 127.0.0.1:8088]",
		Short: "Serve a live view of the running labs, for a projector",
		Long: `Serve one page that draws every running lab as a graph (the underlay, each
node with its bridge and flannel.1, every container or pod), colours each
link by the traffic it carries now (the kernel's counters, once a second),
traces a packet hop by hop, and shows compare's table and the running
exercises' checks.

It listens on 127.0.0.1 (this machine only) unless told otherwise. Reading
is free; what sends packets (trace, compare, the checks) needs the token it
prints, which the printed address carries. It never changes a lab.`,
		Example: "  sudo netlab web\n  sudo netlab web --listen 0.0.0.0:8088   # on a VM, to view it from the host",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if g.lab.set || g.dryRun || g.explain {
				return usagef("web shows every running lab and changes none: it takes --listen only")
			}
			for _, h := range hosts {
				if h == "" || strings.ContainsAny(h, ":/ ") {
					return usagef("--allow-host %q: a host name, as a browser sends it in Host (no port)", h)
				}
			}
			if err := needRoot("web"); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return usagef("--listen %s: %v", listen, err)
			}
			for flag, v := range map[string]string{"--docker-lab": b.dockerLab, "--overlay-lab": b.overlayLab} {
				if err := names.CheckLabName(v); err != nil {
					return usagef("%s: %v", flag, err)
				}
			}
			srv := &web.Server{B: b, Token: web.NewToken(), Hosts: hosts}
			if room {
				srv.Room = newRoom()
			}
			out := c.OutOrStdout()
			// The address as given, with the port the kernel chose for :0.
			h, _, _ := net.SplitHostPort(listen)
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			host := net.JoinHostPort(h, port)
			if !web.Loopback(listen) {
				fmt.Fprintf(out, "Listening on %s: every machine that reaches this one can see the labs; only the token lets it send packets.\n", host)
				if h == "" || h == "0.0.0.0" || h == "::" {
					host = net.JoinHostPort("127.0.0.1", port)
				}
			}
			fmt.Fprintf(out, "netlab web: open http://%s/?token=%s\n", host, srv.Token)
			fmt.Fprintln(out, "(the token lets the page run trace and compare; Ctrl-C stops)")
			if room {
				at := host
				if h == "" || h == "0.0.0.0" || h == "::" {
					at = net.JoinHostPort("THIS-MACHINE", port)
				}
				fmt.Fprintf(out, "\nThe room is open: learners report their checks with (the Exercises tab shows them)\n")
				fmt.Fprintf(out, "  sudo netlab exercise check --report http://%s --room-token %s --as \"THEIR NAME\"\n", at, srv.Room.Token)
				if web.Loopback(listen) {
					fmt.Fprintln(out, "(only from this machine: --listen 0.0.0.0:8088 lets the room's machines in)")
				} else if at != host {
					fmt.Fprintf(out, "(THIS-MACHINE: an address of this machine the room reaches: %s)\n", strings.Join(ownAddrs(), ", "))
				}
			}
			hs := web.HTTPServer(srv.Handler())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = hs.Shutdown(sctx)
			}()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8088", "address and port to listen on (0.0.0.0:8088: every interface)")
	c.Flags().StringArrayVar(&hosts, "allow-host", nil, "a host name the page is opened by, besides its address and localhost (again for more)")
	c.Flags().BoolVar(&room, "room", false, "take learners' reports ('exercise check --report'): the Exercises tab shows who solved what")
	c.Flags().StringVar(&b.dockerLab, "docker-lab", "docker", "the Docker-model lab the Compare tab asks")
	c.Flags().StringVar(&b.overlayLab, "overlay-lab", "overlay", "the Kubernetes-model lab the Compare tab asks")
	return c
}

// ownAddrs are this machine's global unicast IPv4 addresses, for the
// room's command.
func ownAddrs() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			out = append(out, n.IP.String())
		}
	}
	if len(out) == 0 {
		return []string{"none found"}
	}
	return out
}

// newRoom is a room for the workshop's exercises, with a fresh token.
func newRoom() *web.Room {
	r := &web.Room{Token: web.NewToken()}
	for _, x := range workshop.All {
		r.Exercises = append(r.Exercises, web.RoomExercise{Number: x.N, ID: x.ID, Title: x.Title})
	}
	return r
}

// webBackend answers the page with the verbs' own code.
type webBackend struct{ dockerLab, overlayLab string }

func (webBackend) Labs() []web.Lab {
	docs, states := labDocs(inventory.Labs())
	var out []web.Lab
	for i := range docs {
		out = append(out, web.Lab{Status: docs[i], State: states[i]})
	}
	return out
}

func (webBackend) States() []*state.State {
	var out []*state.State
	for _, l := range inventory.Labs() {
		if s, err := state.Load(l); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// badRequest makes a usage error (what the verb would exit 2 for) the
// page's 400.
func badRequest(err error) error {
	if isUsage(err) {
		return &web.BadRequest{Reason: err.Error()}
	}
	return err
}

func (webBackend) Trace(ctx context.Context, r web.TraceRequest) (any, error) {
	if r.Lab != "" && !inventory.Running(r.Lab) {
		return nil, &web.BadRequest{Reason: fmt.Sprintf("lab %q is not up", r.Lab)}
	}
	req, err := traceRequest(r.Lab, r.Src, r.Dst, "", r.Port, r.Port != 0, false)
	if err != nil {
		return nil, badRequest(err)
	}
	return trace.Run(req), nil
}

// Compare asks the running labs docker and overlay (and hostgw), as
// 'netlab compare --quick' does; it builds none.
func (b webBackend) Compare(ctx context.Context) (any, error) {
	var cols []compare.Column
	for _, want := range []struct{ key, lab, mode string }{{"docker", b.dockerLab, "docker"}, {"kubernetes", b.overlayLab, "overlay"}} {
		s, err := state.Load(want.lab)
		if err != nil || !inventory.Running(want.lab) || s.Mode != want.mode {
			return nil, &web.BadRequest{Reason: fmt.Sprintf("compare needs the lab %s up (sudo netlab %s-mode): the page builds no lab", want.lab, want.mode)}
		}
		cols = append(cols, compare.Column{Key: want.key, State: s})
	}
	if h := runningHostGW(cols[1].State.Lab); h != nil && h.Topology.Overlay.Backend == topo.HostGW {
		cols = append(cols, compare.Column{Key: "hostgw", State: h})
	}
	return compare.Run(cols, compare.Options{Quick: true}), nil
}

// Exercises checks every running exercise, as 'netlab exercise check
// --json' does.
func (webBackend) Exercises(ctx context.Context) (any, error) {
	docs := []api.Check{}
	for _, x := range workshop.All {
		if _, ok := workshop.LoadProgress(x); !ok {
			continue
		}
		res, err := checkRunning(x)
		if err != nil {
			continue // it stopped meanwhile
		}
		docs = append(docs, res)
	}
	return docs, nil
}
