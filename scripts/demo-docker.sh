#!/usr/bin/env bash
# demo-docker.sh [LAB]: run the Docker model's truths on a running lab, with
# a heading for each, as a workshop would on the projector. It expects the
# lab of examples/docker-uneven.yaml (node1: c1 c2, node2: c3 c4 c5).
set -u
lab=${1:-docker}
nl() { netlab --lab "$lab" "$@"; }
bold=""; plain=""
if [ -t 1 ]; then bold=$'\033[1m'; plain=$'\033[0m'; fi
show() { printf '\n%s== %s%s\n$ netlab exec %s\n' "$bold" "$1" "$plain" "${*:2}"; nl exec "${@:2}"; }

show "1. Same host: c1 reaches c2 directly, and c2 sees c1's own address" c1 -- curl -s 172.17.0.3
show "2. To the outside: the outside host sees node1's address (MASQUERADE)" c1 -- curl -s 192.168.56.1
show "3. Across hosts: c4's address (172.17.0.3) is c2 on node1; it never leaves node1" c1 -- curl -s 172.17.0.3
show "   ... and c5's address (172.17.0.4), which only node2 uses, gets no answer from node1" c1 -- ping -c1 -W1 172.17.0.4
show "4. Outside cannot reach a container's address ..." outside -- ping -c1 -W1 172.17.0.2
show "   ... but node1:8080 is published: DNAT to c1:80, which sees the real client" outside -- curl -s 192.168.56.11:8080
show "   ... and node1's own 127.0.0.1:8080 goes through docker-proxy: c1 sees 172.17.0.1" node1 -- curl -s 127.0.0.1:8080
show "5. traceroute: the first hop is docker0 (172.17.0.1)" c1 -- traceroute -n -q1 -w1 192.168.56.1
printf '\nThe lab stays up: try your own commands (sudo netlab status), then: sudo netlab down\n'
exit 0
