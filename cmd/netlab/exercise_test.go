package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/api"
	"netlab/internal/labtest"
	"netlab/internal/state"
)

// checkDoc is 'netlab exercise check N --json' as a script reads it.
type checkDoc struct {
	ID       string `json:"id"`
	Lab      string `json:"lab"`
	Model    string `json:"model"`
	Solved   bool   `json:"solved"`
	Checks   int    `json:"checks"`
	Criteria []struct {
		Name     string `json:"name"`
		Pass     bool   `json:"pass"`
		Observed string `json:"observed"`
		Hint     string `json:"hint"`
	} `json:"criteria"`
}

func checkExercise(t *testing.T, n int, wantCode int) checkDoc {
	t.Helper()
	r := labtest.Run(t, "exercise", "check", fmt.Sprint(n), "--json")
	require.Equal(t, wantCode, r.Code, "check %d: %s\n%s", n, r.Stderr, r.Stdout)
	var d checkDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.Stdout)
	return d
}

// failing returns the indexes of the criteria that fail.
func (d checkDoc) failing() []int {
	out := []int{}
	for i, c := range d.Criteria {
		if !c.Pass {
			out = append(out, i)
		}
	}
	return out
}

// shell runs fix commands as a learner types them (sudo is dropped: the
// test is root), with lab names as the exercise's.
func shell(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out, err := exec.Command("bash", "-c", strings.TrimPrefix(l, "sudo ")).CombinedOutput()
		require.NoError(t, err, "%s: %s", l, out)
	}
}

// solution is the reference fix netlab prints, as commands.
func solution(t *testing.T, n int) []string {
	t.Helper()
	r := labtest.MustRun(t, "exercise", "solution", fmt.Sprint(n), "--yes")
	var cmds []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.HasPrefix(l, "  sudo ") {
			cmds = append(cmds, strings.TrimSpace(l))
		}
	}
	require.NotEmpty(t, cmds, r.Stdout)
	return cmds
}

// TestExercises: each exercise breaks its lab as it says (check fails on
// the criteria the break touches, passes the others, with a hint naming
// what it saw), the reference fix makes it pass, a wrong fix is caught
// where the exercise says so, a different sound fix passes, and stop
// leaves nothing behind.
func TestExercises(t *testing.T) {
	labtest.Root(t)
	prefix := labtest.Name("x")
	t.Setenv("NETLAB_EXERCISE_PREFIX", prefix)
	for _, tc := range []struct {
		n     int
		story string
		fails []int
		hint  string // in the first failing criterion's hint
		// wrong is a fix the check must catch, at criterion wrongAt, with
		// wrongHint in its hint; alt is a different fix that must pass.
		wrong     []string
		wrongAt   int
		wrongHint string
		alt       []string
	}{
		{n: 1, story: "192.168.56.1:80", fails: []int{0, 1}, hint: "from 172.17.0.2",
			wrong: []string{"ip -n %s-outside route add 172.17.0.0/16 via 192.168.56.11"}, wrongAt: 1, wrongHint: "saw 172.17.0.2"},
		{n: 2, story: "192.168.56.11:8080", fails: []int{0, 1}, hint: "→ 172.17.0.2:8000",
			wrong:   []string{`ip netns exec %s-node1 sh -c "iptables-save -t nat | grep -v -- '-j DNAT' | iptables-restore"`},
			wrongAt: 1, wrongHint: "saw 172.17.0.1"},
		{n: 3, story: "192.168.56.12:8080", fails: []int{0, 1}, hint: "forwarding is off on eth1"},
		{n: 4, story: "172.17.0.1", fails: []int{0, 1, 2}, hint: "veth-c2 on node1, which is up and on no bridge"},
		{n: 5, story: "192.168.56.11:8080", fails: []int{0}, hint: "c2 172.17.0.3 → 192.168.56.11:8080: c1 answered",
			wrong: []string{"ip netns exec %s-node1 sysctl -qw net.bridge.bridge-nf-call-iptables=0"}, wrongAt: 2, wrongHint: "skip Docker's iptables rules"},
		{n: 6, story: "10.244.2.2", fails: []int{0, 1, 2}, hint: "node1 (via 192.168.56.1 dev eth1",
			alt: []string{"ip -n %s-node1 route add 10.244.2.0/24 via 192.168.56.12", "ip -n %s-node2 route replace 10.244.1.0/24 via 192.168.56.11"}},
		{n: 7, story: "10.244.2.2", fails: []int{0, 1, 2}, hint: "no FDB entry for"},
		{n: 8, story: "10.244.2.2", fails: []int{1, 2, 3}, hint: "1422 bytes vanish without a word",
			alt: []string{"ip -n %[1]s-node1 link set flannel.1 mtu 1350", "ip -n %[1]s-node2 link set flannel.1 mtu 1350"}},
		{n: 9, story: "192.168.56.1:80", fails: []int{0}, hint: "from 10.244.1.2",
			wrong: []string{"ip netns exec %s-node1 iptables -t nat -I POSTROUTING -s 10.244.0.0/16 -j MASQUERADE"}, wrongAt: 1, wrongHint: "saw 10.244.1.0"},
		{n: 10, story: "10.244.1.0/24", fails: []int{0, 1, 2, 3}, hint: "ip netns add"},
		{n: 11, story: "connection refused", fails: []int{0}, hint: "refused at once"},
		{n: 12, story: "has no pods yet", fails: []int{0}, hint: "waited"},
		{n: 13, story: "runs hot", fails: []int{0, 1}, hint: "--probability"},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			lab := fmt.Sprintf("%s%d", prefix, tc.n)
			t.Cleanup(func() {
				_, _ = exec.Command(labtest.Binary(t), "down", "--lab", lab).CombinedOutput()
				_ = exec.Command("ip", "netns", "del", "pod-"+lab).Run()
				labtest.AssertGone(t, lab)
			})
			r := labtest.MustRun(t, "exercise", "start", fmt.Sprint(tc.n))
			assert.Contains(t, r.Stdout, "What users report:")
			assert.Contains(t, r.Stdout, tc.story)
			d := checkExercise(t, tc.n, 1)
			assert.Equal(t, lab, d.Lab)
			assert.False(t, d.Solved)
			require.Equal(t, tc.fails, d.failing(), "%+v", d.Criteria)
			if tc.n == 1 {
				// solution asks first: y on its input shows it, anything
				// else does not, and no input at all says how to skip asking.
				ask := func(input string) (string, int) {
					cmd := exec.Command(labtest.Binary(t), "exercise", "solution", "1")
					cmd.Stdin = strings.NewReader(input)
					out, err := cmd.CombinedOutput()
					code := 0
					if ee, ok := err.(*exec.ExitError); ok {
						code = ee.ExitCode()
					}
					return string(out), code
				}
				out, code := ask("y\n")
				assert.Equal(t, 0, code, out)
				assert.Contains(t, out, "MASQUERADE")
				out, code = ask("n\n")
				assert.Equal(t, 0, code, out)
				assert.Contains(t, out, "Not shown")
				assert.NotContains(t, out, "MASQUERADE")
				out, code = ask("")
				assert.Equal(t, 2, code, out)
				assert.Contains(t, out, "add --yes")
			}
			if tc.n == 10 {
				// Another lab's pods share node1's pod CIDR: none of them
				// is the learner's pod.
				other := labtest.NewLab(t, "xd")
				labtest.MustRun(t, "overlay-mode", "--lab", other)
				labtest.MustRun(t, "apply", "--lab", other, "-f", "../../examples/myapp.yaml")
				require.Equal(t, tc.fails, checkExercise(t, tc.n, 1).failing(), "another lab's pods are not the learner's")
				labtest.MustRun(t, "down", "--lab", other)
			}
			first := d.Criteria[tc.fails[0]]
			assert.Contains(t, first.Hint, tc.hint, "the hint names what the check saw")
			for _, c := range d.Criteria {
				assert.NotEmpty(t, c.Observed, c.Name)
				if !c.Pass {
					assert.NotEmpty(t, c.Hint, c.Name)
				}
			}
			if tc.wrong != nil {
				for _, w := range tc.wrong {
					shell(t, fmt.Sprintf(w, lab))
				}
				d = checkExercise(t, tc.n, 1)
				require.False(t, d.Criteria[tc.wrongAt].Pass, "a wrong fix is caught: %+v", d.Criteria)
				assert.Contains(t, d.Criteria[tc.wrongAt].Hint, tc.wrongHint)
				labtest.MustRun(t, "exercise", "reset", fmt.Sprint(tc.n))
				require.Equal(t, tc.fails, checkExercise(t, tc.n, 1).failing(), "reset breaks it again, as new")
			}
			if tc.alt != nil {
				for _, a := range tc.alt {
					shell(t, fmt.Sprintf(a, lab))
				}
				d = checkExercise(t, tc.n, 0)
				assert.True(t, d.Solved, "a different sound fix passes")
				labtest.MustRun(t, "exercise", "reset", fmt.Sprint(tc.n))
			}
			shell(t, solution(t, tc.n)...)
			d = checkExercise(t, tc.n, 0)
			assert.True(t, d.Solved, "%+v", d.Criteria)
			assert.Empty(t, d.failing())

			var list []struct {
				ID     string `json:"id"`
				Lab    string `json:"lab"`
				Solved bool   `json:"solved"`
				Checks int    `json:"checks"`
			}
			require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &list))
			require.Len(t, list, 13)
			assert.Equal(t, lab, list[tc.n-1].Lab)
			assert.True(t, list[tc.n-1].Solved, "progress survives: solved")
			assert.GreaterOrEqual(t, list[tc.n-1].Checks, 1)
			labtest.MustRun(t, "exercise", "stop", fmt.Sprint(tc.n))
			labtest.AssertGone(t, lab)
			require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &list))
			assert.False(t, list[tc.n-1].Solved, "the exercise ends with its lab")
		})
	}
}

// TestExerciseBadInput: bad usage exits 2 and changes nothing.
func TestExerciseBadInput(t *testing.T) {
	labtest.Root(t)
	prefix := labtest.Name("y")
	t.Setenv("NETLAB_EXERCISE_PREFIX", prefix)
	var labs []string // the exercises' labs, under either prefix
	for n := 1; n <= 14; n++ {
		labs = append(labs, prefix+strconv.Itoa(n), "Bad/Prefix"+strconv.Itoa(n))
	}
	before := netnsList(t, labs...)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exercise", "start"}, "takes one exercise"},
		{[]string{"exercise", "start", "14"}, "no exercise \"14\""},
		{[]string{"exercise", "start", "1", "2"}, "takes one exercise"},
		{[]string{"exercise", "check", "1"}, "is not running"},
		{[]string{"exercise", "check"}, "no exercise is running"},
		{[]string{"exercise", "hint", "docker-masquerade"}, "is not running"},
		{[]string{"exercise", "solution", "1", "--yes"}, "is not running"},
		{[]string{"exercise", "stop", "1"}, "is not running"},
		{[]string{"exercise", "start", "1", "--lab", "x"}, "no --lab"},
		{[]string{"exercise", "start", "1", "--dry-run"}, "no --dry-run"},
		{[]string{"exercise", "frob"}, "unknown exercise verb"},
	} {
		r := labtest.Run(t, tc.args...)
		assert.Equal(t, 2, r.Code, "%v: %s", tc.args, r.Stderr)
		assert.Contains(t, r.Stderr, tc.want, tc.args)
	}
	t.Setenv("NETLAB_EXERCISE_PREFIX", "Bad/Prefix")
	r := labtest.Run(t, "exercise", "start", "1")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "NETLAB_EXERCISE_PREFIX")
	assert.Equal(t, before, netnsList(t, labs...), "bad usage built nothing")
}

// TestInterruptedExerciseStart: a start killed after building its lab and
// before setting the exercise (here: its progress file removed, the state
// such a kill leaves) makes list, check and start agree: not running,
// interrupted, and start builds it again.
func TestInterruptedExerciseStart(t *testing.T) {
	labtest.Root(t)
	prefix := labtest.Name("z")
	t.Setenv("NETLAB_EXERCISE_PREFIX", prefix)
	lab := prefix + "1"
	t.Cleanup(func() { _ = exec.Command(labtest.Binary(t), "down", "--lab", lab).Run() })
	labtest.MustRun(t, "exercise", "start", "1")
	require.NoError(t, os.Remove(filepath.Join(state.RunDir, lab, "exercise.json")))

	var list []api.Exercise
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &list))
	assert.False(t, list[0].Running)
	assert.True(t, list[0].Interrupted)
	assert.Contains(t, labtest.MustRun(t, "exercise", "list").Stdout, "interrupted (start it again)")
	r := labtest.Run(t, "exercise", "check", "1")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "an earlier start was interrupted after building lab "+lab)
	r = labtest.Run(t, "exercise", "start", "1")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "left by an interrupted start of exercise 1: removing it, then starting over")
	r = labtest.Run(t, "exercise", "check", "1")
	assert.Equal(t, 1, r.Code, "running, and broken: %s", r.Stderr)
	var after []api.Exercise
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &after))
	assert.True(t, after[0].Running)
	assert.False(t, after[0].Interrupted)
}
