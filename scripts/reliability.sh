#!/usr/bin/env bash
# reliability.sh: the figures of netlab's crash safety and robustness, as a
# table (make reliability; root, a few minutes):
#   1. kill -9 of up at KILLS points in each mode, then down: leftovers
#   2. CYCLES up/down cycles alternating modes: leftovers, time per cycle
#   3. PARALLEL labs of both modes up at once, each checked with a packet
#      (docker: c1 masqueraded to the outside host; overlay: pod1 to the
#      other node's pod, no NAT), then all down at once
# A leftover is anything of a lab after its down: a namespace under
# /run/netns named <lab>-..., a process of its runtime, a file in
# /run/netlab. It exits non-zero if any run left one, or a check failed.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
bin=${NETLAB:-bin/netlab}
kills=${KILLS:-20}
cycles=${CYCLES:-100}
parallel=${PARALLEL:-8}
[ "$(id -u)" = 0 ] || { echo "reliability: needs root: sudo make reliability" >&2; exit 2; }
[ -x "$bin" ] || { echo "reliability: $bin is missing: make build" >&2; exit 1; }
prefix=rl$$
bad=0

# leftovers LAB: how many objects of LAB are still here.
leftovers() {
  local n=0
  n=$((n + $(ip netns list | awk -v p="$1-" 'index($1, p) == 1' | wc -l)))
  n=$((n + $(pgrep -fc "netlab-pod --lab $1 " || true)))
  n=$((n + $(find /run/netlab -maxdepth 1 \( -name "$1" -o -name "$1.lock" \) | wc -l)))
  echo "$n"
}
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  local f
  for f in /run/netlab/"$prefix"*; do
    [ -e "$f" ] || continue
    f=${f##*/}
    "$bin" down --lab "${f%.lock}" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# 1. kill -9 during up, at points spread over the build.
declare -A killed left
for mode in docker overlay; do
  killed[$mode]=0 left[$mode]=0
  flag=--containers
  [ "$mode" = overlay ] && flag=--pods
  # How long a whole up takes here: the kill points are spread over it.
  t0=$(date +%s.%N)
  "$bin" "$mode-mode" --lab "$prefix-cal" --nodes 2 "$flag" 200 >/dev/null
  took=$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')
  "$bin" down --lab "$prefix-cal" >/dev/null
  for i in $(seq "$kills"); do
    lab=$prefix-k$i
    "$bin" "$mode-mode" --lab "$lab" --nodes 2 "$flag" 200 >/dev/null 2>&1 &
    pid=$!
    # From 5 ms to the end of up: before the first namespace, amid the
    # workloads, amid the firewall and the runtimes.
    sleep "$(awk -v i="$i" -v n="$kills" -v d="$took" 'BEGIN { printf "%.3f", 0.005 + 0.95 * d * (i - 1) / n }')"
    kill -9 "$pid" 2>/dev/null && killed[$mode]=$((killed[$mode] + 1))
    wait "$pid" 2>/dev/null || true
    "$bin" down --lab "$lab" >/dev/null 2>&1 || bad=1
    n=$(leftovers "$lab")
    [ "$n" = 0 ] || { echo "  kill -9 at point $i of $mode-mode: $n objects left" >&2; left[$mode]=$((left[$mode] + 1)); bad=1; }
  done
done

# 2. Up and down, alternating modes.
start=$(date +%s.%N)
cleft=0
for i in $(seq "$cycles"); do
  lab=$prefix-c
  if [ $((i % 2)) = 1 ]; then "$bin" docker-mode --lab "$lab" --nodes 1 --containers 2 >/dev/null || bad=1
  else "$bin" overlay-mode --lab "$lab" --nodes 2 --pods 1 >/dev/null || bad=1; fi
  "$bin" down --lab "$lab" >/dev/null || bad=1
  [ "$(leftovers "$lab")" = 0 ] || { cleft=$((cleft + 1)); bad=1; }
done
per=$(awk -v s="$start" -v e="$(date +%s.%N)" -v n="$cycles" 'BEGIN { printf "%.2f", (e - s) / n }')

# 3. Labs side by side, up at once, each checked, down at once.
pids=()
for i in $(seq "$parallel"); do
  if [ $((i % 2)) = 1 ]; then "$bin" docker-mode --lab "$prefix-p$i" --nodes 2 --containers 3 >/dev/null &
  else "$bin" overlay-mode --lab "$prefix-p$i" --nodes 2 --pods 3 >/dev/null & fi
  pids+=($!)
done
pup=0
for p in "${pids[@]}"; do wait "$p" && pup=$((pup + 1)); done
truths=0
for i in $(seq "$parallel"); do
  lab=$prefix-p$i
  if [ $((i % 2)) = 1 ]; then
    out=$(ip netns exec "$lab-c1" curl -s -m 5 192.168.56.1 || true)
    [[ "$out" == *"client=192.168.56.11"* ]] && truths=$((truths + 1))
  else
    out=$(ip netns exec "$lab-pod1" curl -s -m 5 10.244.2.2:9376 || true)
    [[ "$out" == *"name=pod4"*"client=10.244.1.2"* ]] && truths=$((truths + 1))
  fi
done
pids=()
for i in $(seq "$parallel"); do "$bin" down --lab "$prefix-p$i" >/dev/null & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || bad=1; done
pleft=0
for i in $(seq "$parallel"); do [ "$(leftovers "$prefix-p$i")" = 0 ] || pleft=$((pleft + 1)); done
[ "$pup" = "$parallel" ] && [ "$truths" = "$parallel" ] && [ "$pleft" = 0 ] || bad=1

printf '\n%-50s %s\n' "what" "result"
for mode in docker overlay; do
  printf '%-50s %s\n' "kill -9 during $mode-mode up (2x200), then down" "${killed[$mode]} kills, ${left[$mode]} of ${killed[$mode]} left objects"
done
printf '%-50s %s\n' "up/down cycles, modes alternating" "$cycles cycles, $cleft left objects, ${per} s a cycle"
printf '%-50s %s\n' "labs up in parallel (both modes), then down" "$pup of $parallel up, $truths of $parallel truths held, $pleft left objects"
exit "$bad"
