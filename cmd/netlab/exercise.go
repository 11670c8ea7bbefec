package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"netlab/compare"
	"netlab/internal/api"
	"netlab/internal/inventory"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/workshop"
)

func newExercise(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "exercise list|start|check|hint|solution|reset|stop [N]",
		Short: "Workshop exercises: a broken lab, what users report, and a checker with real packets",
		Long: `Each exercise builds a lab of its own (ex1, ex2, ...), breaks it, and tells
what users report, never the cause. Find the cause with ordinary ip, bridge,
iptables, sysctl and netlab trace commands, fix it any sound way, and ask
netlab to check: it probes the network with real packets and says, for each
criterion, what it saw.

  sudo netlab exercise list
  sudo netlab exercise start 1
  sudo netlab exercise check 1        exit 0: solved; 1: not yet
  sudo netlab exercise hint 1         where to look, from what the check saw
  sudo netlab exercise solution 1     a reference fix (asks first)
  sudo netlab exercise reset 1        break it again from scratch
  sudo netlab exercise stop 1         remove its lab

N is the exercise's number or its id. The guide is docs/workshop.md.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown exercise verb %q: list, start, check, hint, solution, reset or stop", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	one := func(use, short string, run func(c *cobra.Command, x workshop.Exercise) error) *cobra.Command {
		return exerciseVerb(g, use, short, run)
	}
	var hintsAfter int
	var forget bool
	var dockerVersion string
	start := one("start", "build the exercise's lab, break it, and tell what users report", func(c *cobra.Command, x workshop.Exercise) error {
		if hintsAfter < 0 {
			return usagef("--hints-after %d: give a number of failed checks, 0 (hints only when asked) or more", hintsAfter)
		}
		return startExercise(g, c, x, hintsAfter, dockerVersion)
	})
	start.Flags().IntVar(&hintsAfter, "hints-after", 0, "the teacher's choice: check shows hints by itself after this many failed checks (0: only with --hints or 'exercise hint')")
	start.Flags().StringVar(&dockerVersion, "docker-version", "", "a Docker exercise's Docker: "+strings.Join(topo.DockerVersions, " (the default) or "))
	reset := one("reset", "remove the exercise's lab and start it again, broken", func(c *cobra.Command, x workshop.Exercise) error {
		after := 0 // the teacher's choice stays
		if p, ok := workshop.LoadProgress(x); ok {
			after = p.HintsAfter
		}
		version := "" // and the lab's Docker
		if s, err := state.Load(x.Lab()); err == nil && x.Model == workshop.Docker {
			version = s.Topology.Docker.Release()
		}
		if err := workshop.Stop(x, c.ErrOrStderr()); err != nil {
			return err
		}
		return startExercise(g, c, x, after, version)
	})
	stop := one("stop", "remove the exercise's lab (its record of being solved stays, unless --forget)", func(c *cobra.Command, x workshop.Exercise) error {
		if !inventory.Running(x.Lab()) && !forget {
			return usagef("exercise %d is not running", x.N)
		}
		if inventory.Running(x.Lab()) {
			if err := workshop.Stop(x, c.ErrOrStderr()); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "Exercise %d stopped: lab %s and everything it made are gone.\n", x.N, x.Lab())
			fmt.Fprintln(c.OutOrStdout(), "Namespaces you made yourself stay: 'ip netns list' shows them, 'sudo ip netns del NAME' removes one.")
		}
		if forget {
			if err := workshop.Forget(x); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "Exercise %d's record is forgotten: 'exercise list' shows it as never solved.\n", x.N)
		} else if r, ok := workshop.LoadRecord(x); ok && r.Solved {
			fmt.Fprintf(c.OutOrStdout(), "Its record stays: solved at %s ('exercise stop %d --forget' forgets it).\n", r.SolvedAt.Format("15:04"), x.N)
		}
		return nil
	})
	stop.Flags().BoolVar(&forget, "forget", false, "forget that it was solved, too (its lab may be gone already)")
	c.AddCommand(exerciseList(), start, exerciseCheck(g), exerciseHint(g), exerciseSolution(g), reset, stop)
	return c
}

// exerciseVerb is the verb use of one exercise: exercise use N.
func exerciseVerb(g *globals, use, short string, run func(c *cobra.Command, x workshop.Exercise) error) *cobra.Command {
	return &cobra.Command{Use: use + " N", Short: short, Args: exerciseArg,
		RunE: func(c *cobra.Command, args []string) error {
			x, err := exerciseOf(g, args[0])
			if err != nil {
				return err
			}
			if err := needRoot("exercise " + use); err != nil {
				return err
			}
			return run(c, x)
		}}
}

func exerciseList() *cobra.Command {
	var listJSON bool
	list := &cobra.Command{Use: "list", Short: "every exercise: number, title, model, difficulty, solved", Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := needRoot("exercise list"); err != nil {
				return err
			}
			var all []api.Exercise
			for _, x := range workshop.All {
				all = append(all, workshop.Info(x))
			}
			if listJSON {
				return writeJSON(c.OutOrStdout(), all)
			}
			printList(c.OutOrStdout(), all)
			return nil
		}}
	list.Flags().BoolVar(&listJSON, "json", false, "print the list as JSON, for scripts")
	return list
}

func exerciseCheck(g *globals) *cobra.Command {
	var checkJSON, hints bool
	var to reportTo
	check := &cobra.Command{Use: "check [N]", Short: "check a running exercise (every running one without N): exit 0 solved, 1 not yet",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("exercise check takes one exercise at most, got %q", args)
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := to.validate(); err != nil {
				return err
			}
			var xs []workshop.Exercise
			if len(args) == 1 {
				x, err := exerciseOf(g, args[0])
				if err != nil {
					return err
				}
				xs = append(xs, x)
			}
			if err := needRoot("exercise check"); err != nil {
				return err
			}
			if len(xs) == 0 {
				for _, x := range workshop.All {
					if _, ok := workshop.LoadProgress(x); ok {
						xs = append(xs, x)
					}
				}
				if len(xs) == 0 {
					return usagef("no exercise is running: start one with 'sudo netlab exercise start 1' ('netlab exercise list' lists them)")
				}
			}
			var docs []api.Check
			solved := true
			for _, x := range xs {
				res, err := workshop.Check(x, hints)
				if errors.Is(err, workshop.ErrNotRunning) {
					return notRunning(x)
				}
				if err != nil {
					return err
				}
				docs = append(docs, res)
				solved = solved && res.Solved
			}
			out := c.OutOrStdout()
			if checkJSON {
				var err error
				if len(args) == 1 {
					err = writeJSON(out, docs[0])
				} else {
					err = writeJSON(out, docs)
				}
				if err != nil {
					return err
				}
			} else {
				for _, d := range docs {
					printCheck(out, d)
				}
			}
			if to.url != "" {
				if err := to.send(docs); err != nil {
					return err
				}
				if !checkJSON {
					fmt.Fprintf(out, "Reported to the room at %s as %q.\n", to.url, to.as)
				}
			}
			if !solved {
				return &exitError{code: exitFailed}
			}
			return nil
		}}
	check.Flags().StringVar(&to.url, "report", "", "also send the checks to the teacher's 'netlab web --room' at this address (http://HOST:PORT)")
	check.Flags().StringVar(&to.token, "room-token", "", "the room token the teacher's netlab web printed (with --report)")
	check.Flags().StringVar(&to.as, "as", "", "your name in the room (with --report)")
	check.Flags().BoolVar(&checkJSON, "json", false, "print the checks as JSON, for scripts")
	check.Flags().BoolVar(&hints, "hints", false, "with each failed criterion, where to look next")
	return check
}

func exerciseHint(g *globals) *cobra.Command {
	return exerciseVerb(g, "hint", "where to look next, from what a check sees now", func(c *cobra.Command, x workshop.Exercise) error {
		res, err := checkRunning(x)
		if err != nil {
			return err
		}
		for _, r := range res.Criteria {
			if !r.Pass {
				fmt.Fprintf(c.OutOrStdout(), "Exercise %d, %s: not yet.\n  seen: %s\n  hint: %s\n", x.N, r.Name, r.Observed, r.Hint)
				return nil
			}
		}
		fmt.Fprintf(c.OutOrStdout(), "Exercise %d passes every check: it is solved.\n", x.N)
		return nil
	})
}

func exerciseSolution(g *globals) *cobra.Command {
	var yes bool
	solution := exerciseVerb(g, "solution", "a reference fix, as commands (asks first, unless --yes)", func(c *cobra.Command, x workshop.Exercise) error {
		s, err := runningState(x)
		if err != nil {
			return err
		}
		if !yes {
			// Ask, on a terminal or not (echo y | netlab exercise solution 1
			// answers too); with nothing to read, say how to skip asking.
			fmt.Fprintf(c.ErrOrStderr(), "This shows a fix of exercise %d. Sure? [y/N] ", x.N)
			line, err := bufio.NewReader(c.InOrStdin()).ReadString('\n')
			if err != nil && strings.TrimSpace(line) == "" && !isTerminal(os.Stdin) {
				fmt.Fprintln(c.ErrOrStderr())
				return usagef("exercise solution shows the answer: answer y on its input, or add --yes")
			}
			if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
				fmt.Fprintln(c.ErrOrStderr(), "Not shown. 'netlab exercise hint' only says where to look.")
				return nil
			}
		}
		out := c.OutOrStdout()
		fmt.Fprintf(out, "A fix of exercise %d (%s); any other sound fix passes the check too:\n\n", x.N, x.Title)
		for _, l := range x.Solution(&workshop.Env{S: s}) {
			fmt.Fprintln(out, "  "+l)
		}
		fmt.Fprintf(out, "\nThen: sudo netlab exercise check %d\n", x.N)
		return nil
	})
	solution.Flags().BoolVar(&yes, "yes", false, "show it without asking")
	return solution
}

func exerciseArg(c *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("netlab exercise %s takes one exercise, its number or id (see 'netlab exercise list')", c.Name())
	}
	return nil
}

func exerciseOf(g *globals, arg string) (workshop.Exercise, error) {
	if g.lab.set {
		return workshop.Exercise{}, usagef("an exercise has its own lab: no --lab")
	}
	if g.dryRun {
		return workshop.Exercise{}, usagef("exercise has no --dry-run: its lab is its own, and start shows what it breaks with --explain")
	}
	if err := workshop.CheckPrefix(); err != nil {
		return workshop.Exercise{}, usagef("%v", err)
	}
	x, err := workshop.Find(arg)
	if err != nil {
		return x, usagef("%v", err)
	}
	return x, nil
}

func runningState(x workshop.Exercise) (*state.State, error) {
	if _, ok := workshop.LoadProgress(x); !ok {
		return nil, notRunning(x)
	}
	return state.Load(x.Lab())
}

func checkRunning(x workshop.Exercise) (api.Check, error) {
	res, err := workshop.Check(x, true)
	if errors.Is(err, workshop.ErrNotRunning) {
		return res, notRunning(x)
	}
	return res, err
}

// notRunning says an exercise is not running, and why when its lab is
// up: a start was interrupted half-way.
func notRunning(x workshop.Exercise) error {
	if workshop.HalfStarted(x) {
		return usagef("exercise %d is not running: an earlier start was interrupted after building lab %s, and before the exercise was set; 'sudo netlab exercise start %d' builds it again", x.N, x.Lab(), x.N)
	}
	return usagef("exercise %d is not running: start it with 'sudo netlab exercise start %d'", x.N, x.N)
}

// startExercise starts x (workshop.Start) and tells its story.
func startExercise(g *globals, c *cobra.Command, x workshop.Exercise, hintsAfter int, dockerVersion string) error {
	if err := canRunWorkloads(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	env, err := workshop.Start(ctx, x, workshop.StartOptions{Explain: g.explain, Log: c.ErrOrStderr(), HintsAfter: hintsAfter, DockerVersion: dockerVersion})
	if errors.Is(err, workshop.ErrRunning) {
		return usagef("exercise %d is running already (lab %s): check it with 'sudo netlab exercise check %d', or start over with 'sudo netlab exercise reset %d'", x.N, x.Lab(), x.N, x.N)
	}
	if err != nil {
		return err
	}
	out := c.OutOrStdout()
	fmt.Fprintf(out, "Exercise %d: %s (%s model, %s)\n\n", x.N, x.Title, x.Model.Title(), x.Difficulty)
	fmt.Fprintln(out, "What users report:")
	for _, l := range compare.Wrap(x.Story(env), 76) {
		fmt.Fprintln(out, "  "+l)
	}
	fmt.Fprintf(out, "\nLab %s is up: its namespaces start with %s- (sudo netlab status --lab %s).\n", x.Lab(), x.Lab(), x.Lab())
	fmt.Fprintf(out, "Look around with ip, bridge, iptables, sysctl, and sudo netlab trace --lab %s SRC DST.\n", x.Lab())
	fmt.Fprintf(out, "When you think it is fixed: sudo netlab exercise check %d\n", x.N)
	return nil
}

func printList(w io.Writer, all []api.Exercise) {
	fmt.Fprintf(w, "  %-3s %-24s %-50s %-11s %-7s %s\n", "N", "ID", "TITLE", "MODEL", "LEVEL", "STATE")
	for _, x := range all {
		st := "-"
		switch {
		case x.Solved:
			st = "solved"
		case x.Running && x.SolvedOnce:
			st = "running (solved before)"
		case x.Running:
			st = "running"
		case x.Interrupted:
			st = "interrupted (start it again)"
		}
		fmt.Fprintf(w, "  %-3d %-24s %-50s %-11s %-7s %s\n", x.Number, x.ID, x.Title, x.Model, x.Difficulty, st)
	}
	fmt.Fprintln(w, "\nStart one with: sudo netlab exercise start N (the guide: docs/workshop.md)")
}

func printCheck(w io.Writer, d api.Check) {
	fmt.Fprintf(w, "Exercise %d: %s (lab %s)\n", d.Number, d.Title, d.Lab)
	pass, lastHint := 0, ""
	for _, c := range d.Criteria {
		mark := "FAIL"
		if c.Pass {
			mark, pass = "PASS", pass+1
		}
		fmt.Fprintf(w, "  %s  %s\n", mark, c.Name)
		for _, l := range compare.Wrap(c.Observed, 72) {
			fmt.Fprintf(w, "        %s\n", l)
		}
		if !c.Pass && c.Hint == lastHint && c.Hint != "" {
			fmt.Fprintf(w, "        hint: as above\n")
		} else if !c.Pass && c.Hint != "" {
			lastHint = c.Hint
			for i, l := range compare.Wrap("hint: "+c.Hint, 72) {
				if i > 0 {
					l = "      " + l
				}
				fmt.Fprintf(w, "        %s\n", l)
			}
		}
	}
	if d.Solved {
		fmt.Fprintf(w, "Solved: every criterion passes (%.1f s). 'sudo netlab exercise stop %d' removes its lab.\n\n", float64(d.Millis)/1000, d.Number)
		return
	}
	fmt.Fprintf(w, "Not yet: %d of %d criteria pass (%.1f s).\n", pass, len(d.Criteria), float64(d.Millis)/1000)
	if d.HintsHidden {
		fmt.Fprintf(w, "Stuck? 'sudo netlab exercise check %d --hints' (or 'exercise hint %d') says where to look.\n", d.Number, d.Number)
	}
	fmt.Fprintln(w)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
