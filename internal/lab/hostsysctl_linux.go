package lab

import (
	"fmt"
	"os"
	"strings"

	"netlab/internal/inventory"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// hostSysctls returns the sysctls plan sets on netlab's own stack (a real
// node's), each with the value it has before any lab changed it: the
// current one, or, if another lab on this machine already changed it, the
// one that lab recorded. So the last lab to go puts back what the machine
// had, whatever order the labs came and went in.
func hostSysctls(lab string, plan Plan) []state.HostSysctl {
	recorded := map[string]string{}
	for _, other := range inventory.HostLabs() {
		if other == lab {
			continue
		}
		if s, err := state.Load(other); err == nil {
			for _, h := range s.HostSysctls {
				recorded[h.Key] = h.Was
			}
		}
	}
	var out []state.HostSysctl
	seen := map[string]bool{}
	for _, op := range netops.Flatten(plan.Ops) {
		o, ok := op.(netops.Sysctl)
		if !ok || o.NS != netops.Host {
			continue
		}
		for _, kv := range o.Settings {
			if seen[kv.Key] {
				continue
			}
			seen[kv.Key] = true
			was, ok := recorded[kv.Key]
			if !ok {
				var err error
				if was, err = readSysctl(kv.Key); err != nil {
					continue // nothing to put back if it cannot be read
				}
			}
			out = append(out, state.HostSysctl{Key: kv.Key, Was: was, Set: kv.Value})
		}
	}
	return out
}

func readSysctl(key string) (string, error) {
	data, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	return strings.TrimSpace(string(data)), err
}

// restoreHostSysctls says what becomes of the sysctls lab changed on this
// machine's own stack, a line each, and returns the op that puts back those
// to put back: once no other lab here needs it, a sysctl still at the value
// netlab set goes back to what it was; one changed since is left as its
// changer wants it.
func restoreHostSysctls(lab string, hs []state.HostSysctl) ([]string, []netops.Op) {
	if len(hs) == 0 {
		// Nothing to put back (an embedded lab sets none of this
		// machine's): no need to list its links, which would wait for
		// the kernel to finish tearing down the lab's namespaces.
		return nil, nil
	}
	// The other labs here that set each key (a lab that never set it,
	// such as a Docker lab for kube-proxy's route_localnet, does not
	// need it).
	needs := map[string][]string{}
	for _, l := range inventory.HostLabs() {
		if l == lab {
			continue
		}
		s, err := state.Load(l)
		if err != nil {
			// Unreadable: it may need any of them.
			for _, h := range hs {
				needs[h.Key] = append(needs[h.Key], l)
			}
			continue
		}
		for _, h := range s.HostSysctls {
			needs[h.Key] = append(needs[h.Key], l)
		}
	}
	var lines []string
	var back []netops.KV
	for _, h := range hs {
		others := needs[h.Key]
		now, err := readSysctl(h.Key)
		switch {
		case err != nil:
			continue
		case len(others) > 0:
			lines = append(lines, fmt.Sprintf("%s stays %s: lab %s on this machine still needs it", h.Key, now, strings.Join(others, ", ")))
		case now == h.Was:
			// As it was: nothing to do.
		case now != h.Set:
			lines = append(lines, fmt.Sprintf("%s is left at %s: it was changed after netlab set it to %s", h.Key, now, h.Set))
		default:
			back = append(back, netops.KV{Key: h.Key, Value: h.Was})
			lines = append(lines, fmt.Sprintf("%s is back to %s, as netlab found it", h.Key, h.Was))
		}
	}
	if len(back) == 0 {
		return lines, nil
	}
	return lines, []netops.Op{netops.Sysctl{NS: netops.Host, Settings: back}}
}
