#!/usr/bin/env bash
# bench-table.sh: turn `go test -bench` output of ./bench into a table.
# Lines it does not know pass through unchanged.
awk '
/^Benchmark/ {
  split($1, a, "/"); sub(/-[0-9]+$/, "", a[2]); split(a[2], kv, "=")
  delete m
  for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
  if (!header) {
    printf "%-22s %10s %10s %12s %12s %14s %10s\n", "benchmark", "up", "down", "script up", "script down", "ms/container", "speed-up"
    header = 1
  }
  speed = (m["up-s"] > 0) ? m["sh-up-s"] / m["up-s"] : 0
  printf "%-22s %9.3fs %9.3fs %11.3fs %11.3fs %14.2f %9.1fx\n", a[1] "/" kv[1] "=" kv[2], m["up-s"], m["down-s"], m["sh-up-s"], m["sh-down-s"], m["ms/container"], speed
  next
}
{ print }
'
