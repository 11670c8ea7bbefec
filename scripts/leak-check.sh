#!/usr/bin/env bash
# leak-check.sh snapshot FILE | verify FILE: fail if the tests left anything
# behind. FILE is the snapshot, made by the caller with mktemp (never a fixed
# name in /tmp that another user could plant). Labs a user has up before the
# tests (make lab's) are in the snapshot, so they are neither leaks nor
# touched: the tests must leave them exactly as they were.
#  - no named network namespace whose loopback carries a netlab marker, but
#    those there before;
#  - no netlab workload runtime (netlab netlab-pod) process, but those there
#    before;
#  - the machine's root network namespace unchanged: links, addresses,
#    routes and iptables rules are the same as before the tests;
#  - no state or lock file of a test lab left in /run/netlab.
set -euo pipefail

root_state() {
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
  ip -o addr show | awk '{print $2, $4}' | sort
  ip -4 route show table all | sort
  { iptables-save 2>/dev/null || true; } | { grep -vE '^#|^:' || true; } | sort
  # netlab's own files: state directories and lock files of every lab.
  find /run/netlab -mindepth 1 -maxdepth 1 2>/dev/null | sort
}

# netlab_state: every namespace netlab marked, and every workload runtime.
netlab_state() {
  for ns in $(ip netns list | awk '{print $1}'); do
    alias=$(ip -n "$ns" -d link show lo 2>/dev/null | awk '/alias/ {print $2}')
    if [[ "$alias" == netlab:* ]]; then echo "namespace $ns ($alias)"; fi
  done | sort
  { pgrep -af 'netlab-pod --lab' || true; } | sed 's/^/process /' | sort
}

snap=${2:-}
if [ -z "$snap" ]; then echo "usage: $0 snapshot|verify FILE" >&2; exit 2; fi
case "${1:-}" in
snapshot)
  { root_state; echo '--- netlab'; netlab_state; } >"$snap"
  ;;
verify)
  if [ ! -s "$snap" ]; then echo "leak check: no snapshot in $snap" >&2; exit 2; fi
  if ! diff -u "$snap" <(root_state; echo '--- netlab'; netlab_state); then
    echo "leak: the tests left something behind, or changed the root network namespace, /run/netlab or a lab that was up (diff above: - before, + after)"
    exit 1
  fi
  echo "leak check: nothing left behind, root namespace and labs that were up untouched"
  ;;
*)
  echo "usage: $0 snapshot|verify FILE" >&2; exit 2
  ;;
esac
