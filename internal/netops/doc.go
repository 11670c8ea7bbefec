// Package netops is the one layer of netlab that changes the kernel.
//
// Every change is an Op: a small value that says what to do (create a
// namespace, add a veth pair, add a route, load iptables rules) and that can
// print itself as the equivalent `ip`, `bridge`, `iptables` or `sysctl`
// commands. The same list of ops is either printed (--dry-run), printed and
// applied (--explain), or applied silently. Because the commands are printed
// from the very values that are applied, what learners read is what the
// kernel got; a root test replays the printed script in fresh namespaces and
// compares the result with what netlab built.
//
// An NS names the network namespace an op acts in: a named namespace under
// /run/netns (what `ip netns exec NAME` takes), or Host, the stack of the
// process itself (a real node, such as a Vagrant VM).
package netops
