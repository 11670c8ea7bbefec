// Package trace walks one packet through a running lab, namespace by
// namespace, from the kernel's own answers (the bridge's FDB, 'ip route
// get', the nat and filter rules as iptables-save prints them, evaluated
// here, ARP, VXLAN's FDB), compares each hop with what netlab built, then
// sends one real packet and checks the interface counters and conntrack
// against the walk: 'netlab trace' and the page's trace.
package trace
