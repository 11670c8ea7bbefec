#!/usr/bin/env bash
# demo-service.sh [LAB]: the seed's Service on a running overlay-mode lab:
# three pods of app: MyApp (examples/myapp.yaml) and the Service
# my-service (examples/my-service.json, as the seed wrote it), asked from a
# pod through its ClusterIP, as a workshop would on the projector.
set -u
lab=${1:-overlay}
cd "$(dirname "$0")/.." || exit 1
bold=""; plain=""
if [ -t 1 ]; then bold=$'\033[1m'; plain=$'\033[0m'; fi
printf '\n%s== The seed'"'"'s Service: my-service, port 80 -> targetPort 9376 of the pods of app: MyApp%s\n' "$bold" "$plain"
echo "\$ netlab apply -f examples/myapp.yaml -f examples/my-service.json"
netlab apply --lab "$lab" -f examples/myapp.yaml -f examples/my-service.json || exit 1
echo "\$ netlab get pods -o wide; netlab get services; netlab get endpoints"
netlab get --lab "$lab" pods -o wide
netlab get --lab "$lab" services
netlab get --lab "$lab" endpoints
ip=$(netlab get --lab "$lab" services my-service -o json | sed -n 's/.*"clusterIP": "\(.*\)".*/\1/p')
printf '\n%s== pod1 asks my-service (%s:80) three times: kube-proxy'"'"'s rules pick a pod each time%s\n' "$bold" "$ip" "$plain"
for _ in 1 2 3; do
  echo "\$ netlab exec pod1 -- curl -s $ip"
  netlab exec --lab "$lab" pod1 -- curl -s "$ip"
done
printf '\nThe rules: sudo ip netns exec %s-node1 iptables -t nat -S | grep KUBE (docs/services.md explains each)\n' "$lab"
exit 0
