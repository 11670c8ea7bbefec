#!/usr/bin/env bash
# bench-table.sh: turn `go test -bench` output of ./bench into tables.
# Lines it does not know pass through unchanged.
awk '
function metrics(   i) { delete m; for (i = 3; i < NF; i += 2) m[$(i+1)] = $i }
/^Benchmark(DockerMode|DockerNetworks|OverlayMode)\// {
  metrics()
  split($1, a, "/"); sub(/-[0-9]+$/, "", a[2])
  if (!upHeader) {
    printf "\n%-38s %9s %9s %11s %11s %9s %9s\n", "lab up/down", "up", "down", "script up", "script down", "ms/each", "speed-up"
    upHeader = 1
  }
  per = ("ms/container" in m) ? m["ms/container"] : m["ms/pod"]
  if ("sh-up-s" in m) {
    printf "%-38s %8.3fs %8.3fs %10.3fs %10.3fs %9.2f %8.1fx\n", a[1] "/" a[2], m["up-s"], m["down-s"], m["sh-up-s"], m["sh-down-s"], per, m["sh-up-s"] / m["up-s"]
  } else {
    printf "%-38s %8.3fs %8.3fs %11s %11s %9.2f %9s\n", a[1] "/" a[2], m["up-s"], m["down-s"], "-", "-", per, "-"
  }
  next
}
/^BenchmarkDualStack\// {
  metrics()
  split($1, a, "/"); sub(/-[0-9]+$/, "", a[3])
  if (!dsHeader) {
    printf "\n%-32s %9s %9s %10s %10s %8s %6s\n", "dual-stack (--ipv6) vs IPv4", "up", "down", "up --ipv6", "down -6", "ratio", "goal"
    dsHeader = 1
  }
  printf "%-32s %8.3fs %8.3fs %9.3fs %9.3fs %7.2fx %6s\n", a[2] " " a[3], m["up-s"], m["down-s"], m["up6-s"], m["down6-s"], m["up6/up"], "1.5x"
  next
}
/^BenchmarkDataPlane/ {
  metrics()
  printf "\n%-28s %12s %12s\n", "data plane (overlay lab)", "TCP (iperf3)", "ping rtt"
  printf "%-28s %9.2f Gb/s %9.0f us\n", "pod-pod, same node (cni0)", m["same-node-Gbps"], m["same-node-rtt-us"]
  printf "%-28s %9.2f Gb/s %9.0f us\n", "pod-pod, across VXLAN", m["vxlan-Gbps"], m["vxlan-rtt-us"]
  printf "%-28s %9.2f Gb/s %9.0f us\n", "node-node, raw underlay", m["underlay-Gbps"], m["underlay-rtt-us"]
  printf "VXLAN throughput / same node: %.0f%%   VXLAN overhead on the underlay: %.1f bytes per packet\n", 100 * m["vxlan/same"], m["overhead-B/pkt"]
  next
}
/^BenchmarkProxyModes\// {
  metrics()
  split($1, a, "/"); sub(/-[0-9]+$/, "", a[2])
  if (!pmHeader) {
    printf "\n%-30s %9s %9s %10s %10s %8s %9s\n", "kube-proxy, 1,000 Services", "apply", "update", "1st svc", "last svc", "pod IP", "last-1st"
    pmHeader = 1
  }
  printf "%-30s %8.2fs %8.2fs %7.0f us %7.0f us %5.0f us %6.0f us\n", a[2], m["apply-1000-s"], m["update-s"], m["first-us"], m["last-us"], m["pod-us"], m["last-us"] - m["first-us"]
  next
}
/^BenchmarkVerbs/ {
  metrics()
  printf "\n%-28s %9s %9s %9s\n", "verbs, default labs", "median", "slowest", "goal"
  printf "%-28s %8.2fs %8.2fs %9s\n", "compare --quick", m["compare-s"], m["compare-max-s"], "< 3 s"
  if ("trace-s" in m) printf "%-28s %8.2fs %8.2fs %9s\n", "trace pod1 -> pod3", m["trace-s"], m["trace-max-s"], "< 1 s"
  next
}
/^BenchmarkServices/ {
  metrics()
  printf "\n%-40s %12s %9s\n", "Services (overlay lab)", "measured", "goal"
  printf "%-40s %11.2fs %9s\n", "apply 100 replicas + Service, all ready", m["apply-100-s"], "< 2 s"
  printf "%-40s %10.0fus %9s\n", "request through the ClusterIP (median)", m["clusterip-us"], ""
  printf "%-40s %10.0fus %9s\n", "request straight to the pod IP (median)", m["podip-us"], ""
  printf "%-40s %12.2f %9s\n", "ratio", m["ratio"], "< 1.2"
  printf "%-40s %11.2fs %9s\n", "rolling update of the 100 (25%/25%)", m["rollout-100-s"], "reported"
  next
}
/^BenchmarkNetworkPolicies/ {
  metrics()
  printf "\n%-40s %12s %9s\n", "NetworkPolicy (100 pods, 2 nodes)", "measured", "goal"
  printf "%-40s %11.2fs %9s\n", "apply 50 policies, rules in place", m["apply-50-s"], "reported"
  printf "%-40s %12s %9s\n", "policy rules, node1 / node2", sprintf("%d / %d", m["rules-node1"], m["rules-node2"]), "reported"
  printf "%-40s %12s %9s\n", "pod chains, node1 / node2", sprintf("%d / %d", m["podchains-node1"], m["podchains-node2"]), ""
  printf "%-40s %12s %9s\n", "ipsets, node1 / node2", sprintf("%d / %d", m["ipsets-node1"], m["ipsets-node2"]), ""
  printf "%-40s %11.2fs %9s\n", "probe, 324 cells, building its 9 pods", m["probe-first-s"], "< 10 s"
  printf "%-40s %11.2fs %9s\n", "probe, 324 cells, pods up", m["probe-s"], "< 10 s"
  next
}
/^BenchmarkManyObjects/ {
  metrics()
  printf "\n%-40s %12s %9s\n", "one file of 1,000 objects", "measured", "goal"
  printf "%-40s %11.2fs %9s\n", "apply -f", m["apply-1000-s"], ""
  printf "%-40s %11.2fs %9s\n", "delete -f", m["delete-1000-s"], "< 2x apply"
  next
}
/^BenchmarkWebIdleConnections/ {
  metrics()
  printf "\n%-40s %12s %12s\n", "netlab web, 10,000 idle connections", "calm", "under siege"
  printf "%-40s %10.1fms %10.1fms\n", "a normal request, new connection (median)", m["calm-ms"], m["siege-ms"]
  printf "%-40s %8.1f MiB %8.1f MiB\n", "RSS of netlab web", m["calm-rss-MiB"], m["siege-rss-MiB"]
  next
}
/^BenchmarkWeb-/ {
  metrics()
  printf "\n%-40s %8s %10s %9s %9s\n", "netlab web, a page connected", "links", "events/s", "CPU", "goal"
  printf "%-40s %8d %10.2f %8.1f%% %9s\n", "default labs (docker + overlay)", m["links"], m["events/s"], m["cpu-%"], "< 5%"
  printf "%-40s %8d %10.2f %8.1f%% %9s\n", "plus a lab of 1,000+ links", m["links-1000"], m["events-1000/s"], m["cpu-1000-%"], "1 event/s"
  printf "%-40s %8d of 500 pods answered a ping from their node\n", "  (its 500 pods, every one pinged)", m["answered-of-500"]
  next
}
/^BenchmarkExerciseCheck/ {
  metrics()
  printf "\n%-28s %9s %9s %9s\n", "exercise check", "broken", "fixed", "goal"
  for (n = 1; n <= 13; n++) printf "%-28s %8.2fs %8.2fs %9s\n", "exercise " n, m["ex" n "-broken-s"], m["ex" n "-fixed-s"], "< 2 s"
  next
}
{ print }
'
