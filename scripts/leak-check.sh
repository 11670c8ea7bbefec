#!/usr/bin/env bash
# leak-check.sh snapshot|verify: fail if the tests left anything behind.
#  - no named network namespace whose loopback carries a netlab marker;
#  - no netlab workload runtime (netlab netlab-pod) process;
#  - the machine's root network namespace unchanged: links, addresses,
#    routes and iptables rules are the same as before the tests;
#  - no state or lock file of a test lab left in /run/netlab.
set -euo pipefail
snap=/tmp/netlab-leak-check.snapshot

root_state() {
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
  ip -o addr show | awk '{print $2, $4}' | sort
  ip -4 route show table all | sort
  { iptables-save 2>/dev/null || true; } | { grep -vE '^#|^:' || true; } | sort
  # netlab's own files: state directories and lock files of every lab.
  find /run/netlab -mindepth 1 -maxdepth 1 2>/dev/null | sort
}

case "${1:-}" in
snapshot)
  root_state >"$snap"
  ;;
verify)
  fail=0
  for ns in $(ip netns list | awk '{print $1}'); do
    alias=$(ip -n "$ns" -d link show lo 2>/dev/null | awk '/alias/ {print $2}')
    if [[ "$alias" == netlab:* ]]; then
      echo "leak: network namespace $ns ($alias) is still there"
      fail=1
    fi
  done
  if pgrep -af 'netlab-pod --lab' >/dev/null; then
    echo "leak: netlab workload processes still running:"; pgrep -af 'netlab-pod --lab'
    fail=1
  fi
  if [ -f "$snap" ] && ! diff -u "$snap" <(root_state); then
    echo "leak: the root network namespace or /run/netlab changed during the tests (diff above)"
    fail=1
  fi
  if [ "$fail" = 0 ]; then echo "leak check: nothing left behind, root namespace untouched"; fi
  exit $fail
  ;;
*)
  echo "usage: $0 snapshot|verify" >&2; exit 2
  ;;
esac
