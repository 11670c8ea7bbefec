#!/usr/bin/env bash
# demo-overlay.sh [LAB]: run the Kubernetes model's truths on a running
# overlay-mode lab (the default: node1 with pod1 pod2, node2 with pod3 pod4),
# with a heading for each, as a workshop would on the projector.
set -u
lab=${1:-overlay}
nl() { netlab --lab "$lab" "$@"; }
bold=""; plain=""
if [ -t 1 ]; then bold=$'\033[1m'; plain=$'\033[0m'; fi
show() { printf '\n%s== %s%s\n$ netlab exec %s\n' "$bold" "$1" "$plain" "${*:2}"; nl exec "${@:2}"; }

show "1. Pod to pod across nodes: pod3 (node2) sees pod1's own IP, no NAT" pod1 -- curl -s 10.244.2.2:9376
show "2. A node reaches a pod on another node, untranslated (10.244.1.0 is node1's flannel.1)" node1 -- curl -s 10.244.2.2:9376
show "3. pod1's own eth0 address: the one pod3 reported above" pod1 -- ip -4 -br addr show eth0
show "4. traceroute: node1's cni0, node2's flannel.1, then the pod" pod1 -- traceroute -n -q1 -w1 10.244.2.2
printf '\n%s== 5. On the wire: VXLAN (UDP 8472) between 192.168.56.11 and .12, the pods'"'"' ICMP inside%s\n' "$bold" "$plain"
nl exec node1 -- timeout 5 tcpdump -lni eth1 -c2 -T vxlan udp port 8472 2>/dev/null &
sleep 1
nl exec pod1 -- ping -c1 -W1 10.244.2.2 >/dev/null
wait
show "   MTU 1450: 1422 bytes of ping payload fit with don't-fragment ..." pod1 -- ping -c1 -M "do" -s 1422 10.244.2.2
show "   ... 1423 do not" pod1 -- ping -c1 -M "do" -s 1423 10.244.2.2
show "6. Leaving the cluster: the outside host sees node1's address (MASQUERADE)" pod1 -- curl -s 192.168.56.1
show "7. Two containers of a pod share one localhost: the sidecar asks the app" pod1 -c sidecar -- curl -s localhost:9376
printf '\nThe lab stays up: try your own commands (sudo netlab status), then: sudo netlab down\n'
exit 0
