// Package labtest is the one helper root tests use: skip unless root, build
// the netlab binary once, give each test a lab of its own, and check after
// the test that nothing of that lab is left in the kernel.
package labtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"netlab/internal/inventory"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// Root skips t unless it runs as root and not with -short.
func Root(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that builds namespaces in the kernel")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces: run 'sudo make test'")
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a netlab binary built from this tree.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		top := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "netlab-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "netlab")
		for _, argv := range [][]string{{"go", "build", "-o", binPath, "./cmd/netlab"}} {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Dir = top
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("%v: %w", argv, err)
				binPath = string(out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build netlab: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// NetNS is a network namespace of the test's own, named from prefix,
// removed when the test ends.
func NetNS(t testing.TB, prefix string) netops.NS {
	t.Helper()
	ns := netops.NS(Name(prefix))
	if out, err := exec.Command("ip", "netns", "add", string(ns)).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", string(ns)).Run() })
	return ns
}

// Tool skips t unless the command tool is installed (Debian's package
// pkg has it): 'sudo make test' installs what the tests need.
func Tool(t testing.TB, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("no %s here: 'sudo make test' installs it (apt-get install %s)", tool, pkg)
	}
}

// Name returns a fresh lab name: short, unique, and recognisably a test's.
func Name(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "t" + prefix + hex.EncodeToString(b)
}

// NewLab returns a fresh lab name and registers a cleanup that runs
// 'netlab down' on it and fails the test if anything of it is left.
func NewLab(t testing.TB, prefix string) string {
	t.Helper()
	name := Name(prefix)
	bin := Binary(t)
	t.Cleanup(func() {
		out, err := exec.Command(bin, "down", "--lab", name).CombinedOutput()
		if err != nil {
			t.Errorf("netlab down --lab %s: %v\n%s", name, err, out)
		}
		AssertGone(t, name)
	})
	return name
}

// AssertGone fails t if anything of lab remains: a marked namespace, a
// name under /run/netns with the lab's prefix, a workload process, or its state.
func AssertGone(t testing.TB, name string) {
	t.Helper()
	if lo := inventory.Scan(name); len(lo.Namespaces)+len(lo.Stale) > 0 {
		t.Errorf("lab %s left namespaces %v %v", name, lo.Namespaces, lo.Stale)
	}
	ents, _ := os.ReadDir(netops.NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+"-") {
			t.Errorf("lab %s left %s/%s", name, netops.NetnsDir, e.Name())
		}
	}
	for _, l := range inventory.RuntimeLabs() {
		if l == name {
			t.Errorf("lab %s left workload processes", name)
		}
	}
	if etc, _ := os.ReadDir(netops.EtcNetns); len(etc) > 0 {
		for _, e := range etc {
			if strings.HasPrefix(e.Name(), name+"-") {
				t.Errorf("lab %s left %s/%s", name, netops.EtcNetns, e.Name())
			}
		}
	}
	if _, err := os.Stat(state.Dir(name)); err == nil {
		t.Errorf("lab %s left its state directory %s", name, state.Dir(name))
	}
	if _, err := os.Stat(filepath.Join(state.RunDir, name+".lock")); err == nil {
		t.Errorf("lab %s left its lock file", name)
	}
}

// Result is what a netlab command did.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs the netlab binary with args.
func Run(t testing.TB, args ...string) Result {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run netlab %v: %v", args, err)
	}
	return r
}

// MustRun runs netlab with args and fails t unless it exits 0.
func MustRun(t testing.TB, args ...string) Result {
	t.Helper()
	r := Run(t, args...)
	if r.Code != 0 {
		t.Fatalf("netlab %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// Isolated runs the calling test again in a world of its own and reports
// true (the caller then returns: the run's result is the test's) when
// labs are up on this machine that the test would meet or remove (a
// learner's, make lab's): private mount and pid namespaces with empty
// /run/netns, /run/netlab and /etc/netns, where those labs are neither
// seen nor touched, and where a test may build labs of the default names
// or take down every lab. It reports false where no lab is up, or inside
// that world.
func Isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv("NETLAB_TEST_ISOLATED") == t.Name() {
		return false
	}
	up := inventory.Labs()
	if len(up) == 0 {
		return false
	}
	script := `set -e
mkdir -p -m 0755 /run/netns /etc/netns
mkdir -p -m 0700 /run/netlab
mount -t tmpfs -o mode=0755 netlab-test /run/netns
mount -t tmpfs -o mode=0700 netlab-test /run/netlab
mount -t tmpfs -o mode=0755 netlab-test /etc/netns
exec "$@"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc",
		"sh", "-c", script, "sh", os.Args[0], "-test.run", "^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "NETLAB_TEST_ISOLATED="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("labs %v are up here: %s ran in mount and pid namespaces of its own, with empty /run/netns, /run/netlab and /etc/netns:\n%s", up, t.Name(), out)
	if err != nil {
		t.Errorf("%s, in namespaces of its own: %v", t.Name(), err)
	} else if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Errorf("%s, in namespaces of its own, did not pass", t.Name())
	}
	return true
}
