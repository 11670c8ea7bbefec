package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
)

// step is a command of the guide and the lines expected under it.
type step struct {
	line int
	cmd  string
	want []string
}

// guideSteps reads the ```console blocks of a Markdown guide: "$ " lines
// are commands, the lines under each what it should print. A command
// ending in & runs with the next one, as a shell would keep it running.
func guideSteps(t *testing.T, path string) []step {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var steps []step
	in, pending := false, ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```console"):
			in = true
		case in && strings.HasPrefix(l, "```"):
			in = false
		case in && strings.HasPrefix(l, "$ "):
			cmd := strings.TrimPrefix(l, "$ ")
			if strings.HasSuffix(cmd, "&") {
				pending += cmd + "\n"
				continue
			}
			steps = append(steps, step{line: n, cmd: pending + cmd})
			pending = ""
		case in && len(steps) > 0 && strings.TrimSpace(l) != "" && strings.TrimSpace(l) != "…":
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, l)
		}
	}
	require.NoError(t, sc.Err())
	return steps
}

// pattern turns an expected line into a regexp: … is anything, and any run
// of spaces matches any run of spaces.
func pattern(want string) *regexp.Regexp {
	var parts []string
	for _, p := range strings.Split(want, "…") {
		var words []string
		for _, w := range strings.Fields(p) {
			words = append(words, regexp.QuoteMeta(w))
		}
		parts = append(parts, strings.Join(words, `\s+`))
	}
	return regexp.MustCompile(strings.Join(parts, `.*`))
}

// TestWorkshopGuide runs every command of docs/workshop.md in order, as a
// learner types it, and checks each against the output written under it.
func TestWorkshopGuide(t *testing.T) {
	labtest.Root(t)
	// The guide builds labs of the default names, as a learner does: where
	// labs are up (make lab's), it runs where it cannot meet them.
	if labtest.Isolated(t) {
		return
	}
	for _, ns := range []string{"red", "blue"} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Skipf("namespace %s exists: the guide makes one of that name, so run this test where it does not", ns)
		}
	}
	bin := labtest.Binary(t)
	t.Setenv("NETLAB_EXERCISE_PREFIX", "")
	t.Cleanup(func() {
		for _, l := range []string{"docker", "overlay", "hostgw", "compose", "docker6", "overlay6", "ex1"} {
			_, _ = exec.Command(bin, "down", "--lab", l).CombinedOutput()
			labtest.AssertGone(t, l)
		}
		_ = exec.Command("ip", "netns", "del", "red").Run()
		_ = exec.Command("ip", "netns", "del", "blue").Run()
	})
	path, err := filepath.Abs(filepath.Join("..", "..", "docs", "workshop.md"))
	require.NoError(t, err)
	steps := guideSteps(t, path)
	require.Greater(t, len(steps), 40, "the guide's commands")
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "LC_ALL=C")
	for _, s := range steps {
		// Tests run as root, and sudo would reset PATH to the installed netlab.
		cmd := regexp.MustCompile(`(^|[;&|]\s*|\n)sudo `).ReplaceAllString(s.cmd, "$1")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		c := exec.CommandContext(ctx, "bash", "-c", cmd)
		c.Env = env
		c.Dir = filepath.Join("..", "..") // a learner works from the repository, as after make lab
		out, err := c.CombinedOutput()
		cancel()
		if _, exited := err.(*exec.ExitError); err != nil && !exited {
			t.Fatalf("%s:%d: %s: %v", path, s.line, s.cmd, err)
		}
		if err != nil && len(s.want) == 0 {
			t.Errorf("%s:%d: %s failed: %v\n%s", path, s.line, s.cmd, err, out)
			continue
		}
		lines := strings.Split(string(out), "\n")
		at := 0
		for _, w := range s.want {
			re := pattern(w)
			found := false
			for at < len(lines) {
				at++
				if re.MatchString(lines[at-1]) {
					found = true
					break
				}
			}
			if !assert.True(t, found, "%s:%d: %s\nwanted, in order: %q\ngot:\n%s", path, s.line, s.cmd, w, out) {
				break
			}
		}
	}
}
