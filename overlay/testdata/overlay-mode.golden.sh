ip netns add overlay-underlay
ip netns exec overlay-underlay sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec overlay-underlay sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n overlay-underlay link set lo up alias netlab:overlay:underlay
ip -n overlay-underlay link add br-underlay type bridge
ip -n overlay-underlay link set br-underlay alias netlab:overlay:br-underlay
ip -n overlay-underlay link set br-underlay up
ip netns add overlay-node1
ip netns exec overlay-node1 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec overlay-node1 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n overlay-node1 link set lo up alias netlab:overlay:node1
ip -n overlay-underlay link add node1 master br-underlay mtu 1500 up type veth peer name eth1 mtu 1500 netns overlay-node1
ip -n overlay-underlay link set node1 alias netlab:overlay:node1
ip -n overlay-node1 link set eth1 up
ip -n overlay-node1 addr add 192.168.56.11/24 dev eth1
ip -n overlay-node1 route add default via 192.168.56.1
ip netns add overlay-node2
ip netns exec overlay-node2 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec overlay-node2 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n overlay-node2 link set lo up alias netlab:overlay:node2
ip -n overlay-underlay link add node2 master br-underlay mtu 1500 up type veth peer name eth1 mtu 1500 netns overlay-node2
ip -n overlay-underlay link set node2 alias netlab:overlay:node2
ip -n overlay-node2 link set eth1 up
ip -n overlay-node2 addr add 192.168.56.12/24 dev eth1
ip -n overlay-node2 route add default via 192.168.56.1
ip netns add overlay-outside
ip netns exec overlay-outside sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec overlay-outside sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n overlay-outside link set lo up alias netlab:overlay:outside
ip -n overlay-underlay link add outside master br-underlay mtu 1500 up type veth peer name eth1 mtu 1500 netns overlay-outside
ip -n overlay-underlay link set outside alias netlab:overlay:outside
ip -n overlay-outside link set eth1 up
ip -n overlay-outside addr add 192.168.56.1/24 dev eth1
ip netns exec overlay-node1 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.route_localnet=1
ip -n overlay-node1 link add cni0 address 0a:58:0a:f4:01:01 mtu 1450 type bridge
ip -n overlay-node1 link set cni0 alias netlab:overlay:cni0
ip -n overlay-node1 link set cni0 up
ip -n overlay-node1 addr add 10.244.1.1/24 dev cni0
ip -n overlay-node1 link add flannel.1 address 0e:6c:c0:a8:38:0b mtu 1450 type vxlan id 1 local 192.168.56.11 dev eth1 dstport 8472 nolearning
ip -n overlay-node1 link set flannel.1 alias netlab:overlay:flannel.1
ip -n overlay-node1 addr add 10.244.1.0/32 dev flannel.1
ip -n overlay-node1 link set flannel.1 up
ip -n overlay-node1 neigh replace 10.244.2.0 lladdr 0e:6c:c0:a8:38:0c dev flannel.1 nud permanent
bridge -n overlay-node1 fdb replace 0e:6c:c0:a8:38:0c dev flannel.1 dst 192.168.56.12 self permanent
ip -n overlay-node1 route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
ip netns add overlay-pod1
ip netns exec overlay-pod1 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec overlay-pod1 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n overlay-pod1 link set lo up alias netlab:overlay:pod1
ip -n overlay-node1 link add veth-pod1 master cni0 mtu 1450 up type veth peer name eth0 mtu 1450 netns overlay-pod1
ip -n overlay-node1 link set veth-pod1 alias netlab:overlay:pod1
ip -n overlay-node1 link set veth-pod1 type bridge_slave hairpin on
ip -n overlay-pod1 link set eth0 up
ip -n overlay-pod1 addr add 10.244.1.2/24 dev eth0
ip -n overlay-pod1 route add default via 10.244.1.1
ip netns add overlay-pod2
ip netns exec overlay-pod2 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec overlay-pod2 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n overlay-pod2 link set lo up alias netlab:overlay:pod2
ip -n overlay-node1 link add veth-pod2 master cni0 mtu 1450 up type veth peer name eth0 mtu 1450 netns overlay-pod2
ip -n overlay-node1 link set veth-pod2 alias netlab:overlay:pod2
ip -n overlay-node1 link set veth-pod2 type bridge_slave hairpin on
ip -n overlay-pod2 link set eth0 up
ip -n overlay-pod2 addr add 10.244.1.3/24 dev eth0
ip -n overlay-pod2 route add default via 10.244.1.1
ip netns exec overlay-node1 iptables -w -t nat -N FLANNEL-POSTRTG
ip netns exec overlay-node1 iptables -w -t filter -N FLANNEL-FWD
ip netns exec overlay-node1 iptables -w -t nat -A POSTROUTING -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay flannel: who is masqueraded' -j FLANNEL-POSTRTG
ip netns exec overlay-node1 iptables -w -t nat -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay kube-proxy masquerades what it marked' -j RETURN
ip netns exec overlay-node1 iptables -w -t nat -A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay pods of this node to the cluster: no NAT' -j RETURN
ip netns exec overlay-node1 iptables -w -t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay the cluster to pods of this node: no NAT' -j RETURN
ip netns exec overlay-node1 iptables -w -t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay outside to pods of this node: no NAT' -j RETURN
ip netns exec overlay-node1 iptables -w -t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay pods leaving the cluster take the address of the node' -j MASQUERADE --random-fully
ip netns exec overlay-node1 iptables -w -t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay outside to pods of another node, through this one: masqueraded' -j MASQUERADE --random-fully
ip netns exec overlay-node1 iptables -w -t filter -A FORWARD -m comment --comment 'flanneld forward' -m comment --comment 'netlab:overlay flannel: pod traffic is forwarded' -j FLANNEL-FWD
ip netns exec overlay-node1 iptables -w -t filter -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment 'flanneld forward' -m comment --comment 'netlab:overlay traffic from pods' -j ACCEPT
ip netns exec overlay-node1 iptables -w -t filter -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment 'flanneld forward' -m comment --comment 'netlab:overlay traffic to pods' -j ACCEPT
ip netns exec overlay-node2 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.route_localnet=1
ip -n overlay-node2 link add cni0 address 0a:58:0a:f4:02:01 mtu 1450 type bridge
ip -n overlay-node2 link set cni0 alias netlab:overlay:cni0
ip -n overlay-node2 link set cni0 up
ip -n overlay-node2 addr add 10.244.2.1/24 dev cni0
ip -n overlay-node2 link add flannel.1 address 0e:6c:c0:a8:38:0c mtu 1450 type vxlan id 1 local 192.168.56.12 dev eth1 dstport 8472 nolearning
ip -n overlay-node2 link set flannel.1 alias netlab:overlay:flannel.1
ip -n overlay-node2 addr add 10.244.2.0/32 dev flannel.1
ip -n overlay-node2 link set flannel.1 up
ip -n overlay-node2 neigh replace 10.244.1.0 lladdr 0e:6c:c0:a8:38:0b dev flannel.1 nud permanent
bridge -n overlay-node2 fdb replace 0e:6c:c0:a8:38:0b dev flannel.1 dst 192.168.56.11 self permanent
ip -n overlay-node2 route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
ip netns add overlay-pod3
ip netns exec overlay-pod3 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec overlay-pod3 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n overlay-pod3 link set lo up alias netlab:overlay:pod3
ip -n overlay-node2 link add veth-pod3 master cni0 mtu 1450 up type veth peer name eth0 mtu 1450 netns overlay-pod3
ip -n overlay-node2 link set veth-pod3 alias netlab:overlay:pod3
ip -n overlay-node2 link set veth-pod3 type bridge_slave hairpin on
ip -n overlay-pod3 link set eth0 up
ip -n overlay-pod3 addr add 10.244.2.2/24 dev eth0
ip -n overlay-pod3 route add default via 10.244.2.1
ip netns add overlay-pod4
ip netns exec overlay-pod4 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec overlay-pod4 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n overlay-pod4 link set lo up alias netlab:overlay:pod4
ip -n overlay-node2 link add veth-pod4 master cni0 mtu 1450 up type veth peer name eth0 mtu 1450 netns overlay-pod4
ip -n overlay-node2 link set veth-pod4 alias netlab:overlay:pod4
ip -n overlay-node2 link set veth-pod4 type bridge_slave hairpin on
ip -n overlay-pod4 link set eth0 up
ip -n overlay-pod4 addr add 10.244.2.3/24 dev eth0
ip -n overlay-pod4 route add default via 10.244.2.1
ip netns exec overlay-node2 iptables -w -t nat -N FLANNEL-POSTRTG
ip netns exec overlay-node2 iptables -w -t filter -N FLANNEL-FWD
ip netns exec overlay-node2 iptables -w -t nat -A POSTROUTING -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay flannel: who is masqueraded' -j FLANNEL-POSTRTG
ip netns exec overlay-node2 iptables -w -t nat -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay kube-proxy masquerades what it marked' -j RETURN
ip netns exec overlay-node2 iptables -w -t nat -A FLANNEL-POSTRTG -s 10.244.2.0/24 -d 10.244.0.0/16 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay pods of this node to the cluster: no NAT' -j RETURN
ip netns exec overlay-node2 iptables -w -t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.2.0/24 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay the cluster to pods of this node: no NAT' -j RETURN
ip netns exec overlay-node2 iptables -w -t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.2.0/24 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay outside to pods of this node: no NAT' -j RETURN
ip netns exec overlay-node2 iptables -w -t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay pods leaving the cluster take the address of the node' -j MASQUERADE --random-fully
ip netns exec overlay-node2 iptables -w -t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment 'flanneld masq' -m comment --comment 'netlab:overlay outside to pods of another node, through this one: masqueraded' -j MASQUERADE --random-fully
ip netns exec overlay-node2 iptables -w -t filter -A FORWARD -m comment --comment 'flanneld forward' -m comment --comment 'netlab:overlay flannel: pod traffic is forwarded' -j FLANNEL-FWD
ip netns exec overlay-node2 iptables -w -t filter -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment 'flanneld forward' -m comment --comment 'netlab:overlay traffic from pods' -j ACCEPT
ip netns exec overlay-node2 iptables -w -t filter -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment 'flanneld forward' -m comment --comment 'netlab:overlay traffic to pods' -j ACCEPT
