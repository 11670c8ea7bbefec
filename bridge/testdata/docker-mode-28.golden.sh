ip netns add docker-underlay
ip netns exec docker-underlay sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec docker-underlay sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n docker-underlay link set lo up alias netlab:docker:underlay
ip -n docker-underlay link add br-underlay type bridge
ip -n docker-underlay link set br-underlay alias netlab:docker:br-underlay
ip -n docker-underlay link set br-underlay up
ip netns add docker-node1
ip netns exec docker-node1 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec docker-node1 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n docker-node1 link set lo up alias netlab:docker:node1
ip -n docker-underlay link add node1 master br-underlay mtu 1500 up type veth peer name eth1 mtu 1500 netns docker-node1
ip -n docker-underlay link set node1 alias netlab:docker:node1
ip -n docker-node1 link set eth1 up
ip -n docker-node1 addr add 192.168.56.11/24 dev eth1
ip -n docker-node1 route add default via 192.168.56.1
ip netns add docker-node2
ip netns exec docker-node2 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec docker-node2 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n docker-node2 link set lo up alias netlab:docker:node2
ip -n docker-underlay link add node2 master br-underlay mtu 1500 up type veth peer name eth1 mtu 1500 netns docker-node2
ip -n docker-underlay link set node2 alias netlab:docker:node2
ip -n docker-node2 link set eth1 up
ip -n docker-node2 addr add 192.168.56.12/24 dev eth1
ip -n docker-node2 route add default via 192.168.56.1
ip netns add docker-outside
ip netns exec docker-outside sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1
ip netns exec docker-outside sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n docker-outside link set lo up alias netlab:docker:outside
ip -n docker-underlay link add outside master br-underlay mtu 1500 up type veth peer name eth1 mtu 1500 netns docker-outside
ip -n docker-underlay link set outside alias netlab:docker:outside
ip -n docker-outside link set eth1 up
ip -n docker-outside addr add 192.168.56.1/24 dev eth1
ip netns exec docker-node1 sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
ip netns exec docker-node1 sysctl -qw net.ipv4.ip_forward=1
ip -n docker-node1 link add docker0 address 0e:0e:0f:10:11:12 type bridge
ip -n docker-node1 link set docker0 alias netlab:docker:docker0
ip -n docker-node1 link set docker0 up
ip -n docker-node1 addr add 172.17.0.1/16 dev docker0
mkdir -p /etc/netns/docker-node1
printf '%s' '# netlab:docker\nnameserver 192.168.56.1\n' > /etc/netns/docker-node1/resolv.conf
ip netns add docker-c1
ip netns exec docker-c1 sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1 net.ipv4.ip_unprivileged_port_start=0 'net.ipv4.ping_group_range=0 2147483647' net.ipv6.conf.default.disable_ipv6=1
ip netns exec docker-c1 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n docker-c1 link set lo up alias netlab:docker:c1
ip -n docker-node1 link add veth-c1 master docker0 up type veth peer name eth0 address 02:02:03:04:05:06 netns docker-c1
ip -n docker-node1 link set veth-c1 alias netlab:docker:c1
ip -n docker-c1 link set eth0 up
ip netns exec docker-c1 sysctl -qw net.ipv6.conf.default.disable_ipv6=0
ip -n docker-c1 addr add 172.17.0.2/16 dev eth0
ip -n docker-c1 route add default via 172.17.0.1
mkdir -p /etc/netns/docker-c1
printf '%s' '# netlab:docker\n# Generated by Docker Engine.\n# This file can be edited; Docker Engine will not make further changes once it\n# has been modified.\n\nnameserver 192.168.56.1\n\n# Based on host file: '\''/etc/resolv.conf'\'' (legacy)\n# Overrides: []\n' > /etc/netns/docker-c1/resolv.conf
ip netns add docker-c2
ip netns exec docker-c2 sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1 net.ipv4.ip_unprivileged_port_start=0 'net.ipv4.ping_group_range=0 2147483647' net.ipv6.conf.default.disable_ipv6=1
ip netns exec docker-c2 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n docker-c2 link set lo up alias netlab:docker:c2
ip -n docker-node1 link add veth-c2 master docker0 up type veth peer name eth0 address 06:08:09:0a:0b:0c netns docker-c2
ip -n docker-node1 link set veth-c2 alias netlab:docker:c2
ip -n docker-c2 link set eth0 up
ip netns exec docker-c2 sysctl -qw net.ipv6.conf.default.disable_ipv6=0
ip -n docker-c2 addr add 172.17.0.3/16 dev eth0
ip -n docker-c2 route add default via 172.17.0.1
mkdir -p /etc/netns/docker-c2
printf '%s' '# netlab:docker\n# Generated by Docker Engine.\n# This file can be edited; Docker Engine will not make further changes once it\n# has been modified.\n\nnameserver 192.168.56.1\n\n# Based on host file: '\''/etc/resolv.conf'\'' (legacy)\n# Overrides: []\n' > /etc/netns/docker-c2/resolv.conf
ip netns exec docker-node1 iptables -w -t nat -N DOCKER
ip netns exec docker-node1 iptables -w -t filter -N DOCKER
ip netns exec docker-node1 iptables -w -t filter -N DOCKER-BRIDGE
ip netns exec docker-node1 iptables -w -t filter -N DOCKER-CT
ip netns exec docker-node1 iptables -w -t filter -N DOCKER-FORWARD
ip netns exec docker-node1 iptables -w -t filter -N DOCKER-ISOLATION-STAGE-1
ip netns exec docker-node1 iptables -w -t filter -N DOCKER-ISOLATION-STAGE-2
ip netns exec docker-node1 iptables -w -t filter -N DOCKER-USER
ip netns exec docker-node1 iptables -w -t filter -P FORWARD DROP
ip netns exec docker-node1 iptables -w -t raw -A PREROUTING -d 172.17.0.2/32 ! -i docker0 -m comment --comment 'netlab:docker no way into c1 but through docker0: routed from elsewhere, dropped' -j DROP
ip netns exec docker-node1 iptables -w -t raw -A PREROUTING -d 172.17.0.3/32 ! -i docker0 -m comment --comment 'netlab:docker no way into c2 but through docker0: routed from elsewhere, dropped' -j DROP
ip netns exec docker-node1 iptables -w -t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment 'netlab:docker published ports, for packets arriving at this host' -j DOCKER
ip netns exec docker-node1 iptables -w -t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment 'netlab:docker published ports, for packets from this host itself (127.0.0.1 is docker-proxy'\''s)' -j DOCKER
ip netns exec docker-node1 iptables -w -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -m comment --comment 'netlab:docker containers leaving the host take its address' -j MASQUERADE
ip netns exec docker-node1 iptables -w -t nat -A DOCKER -i docker0 -m comment --comment 'netlab:docker containers do not go through published ports: docker-proxy serves them' -j RETURN
ip netns exec docker-node1 iptables -w -t nat -A DOCKER ! -i docker0 -p tcp --dport 8080 -m comment --comment 'netlab:docker publish c1:80 on port 8080' -j DNAT --to-destination 172.17.0.2:80
ip netns exec docker-node1 iptables -w -t filter -A FORWARD -m comment --comment 'netlab:docker the place for the user'\''s own rules, first' -j DOCKER-USER
ip netns exec docker-node1 iptables -w -t filter -A FORWARD -m comment --comment 'netlab:docker Docker'\''s forwarding rules' -j DOCKER-FORWARD
ip netns exec docker-node1 iptables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker replies first' -j DOCKER-CT
ip netns exec docker-node1 iptables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker Docker networks do not reach each other' -j DOCKER-ISOLATION-STAGE-1
ip netns exec docker-node1 iptables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker into a bridge' -j DOCKER-BRIDGE
ip netns exec docker-node1 iptables -w -t filter -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp --dport 80 -m comment --comment 'netlab:docker the published port' -j ACCEPT
ip netns exec docker-node1 iptables -w -t filter -A DOCKER ! -i docker0 -o docker0 -m comment --comment 'netlab:docker nothing else into docker0 from outside it' -j DROP
ip netns exec docker-node1 iptables -w -t filter -A DOCKER-BRIDGE -o docker0 -m comment --comment 'netlab:docker into docker0: its published ports' -j DOCKER
ip netns exec docker-node1 iptables -w -t filter -A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment 'netlab:docker replies to containers' -j ACCEPT
ip netns exec docker-node1 iptables -w -t filter -A DOCKER-FORWARD -i docker0 -m comment --comment 'netlab:docker containers may go anywhere' -j ACCEPT
ip netns exec docker-node1 iptables -w -t filter -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -m comment --comment 'netlab:docker leaving docker0 for another interface' -j DOCKER-ISOLATION-STAGE-2
ip netns exec docker-node1 iptables -w -t filter -A DOCKER-ISOLATION-STAGE-2 -o docker0 -m comment --comment 'netlab:docker not into another Docker network' -j DROP
ip netns exec docker-node1 ip6tables -w -t nat -N DOCKER
ip netns exec docker-node1 ip6tables -w -t filter -N DOCKER
ip netns exec docker-node1 ip6tables -w -t filter -N DOCKER-BRIDGE
ip netns exec docker-node1 ip6tables -w -t filter -N DOCKER-CT
ip netns exec docker-node1 ip6tables -w -t filter -N DOCKER-FORWARD
ip netns exec docker-node1 ip6tables -w -t filter -N DOCKER-ISOLATION-STAGE-1
ip netns exec docker-node1 ip6tables -w -t filter -N DOCKER-ISOLATION-STAGE-2
ip netns exec docker-node1 ip6tables -w -t filter -N DOCKER-USER
ip netns exec docker-node1 ip6tables -w -t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment 'netlab:docker published ports, for packets arriving at this host' -j DOCKER
ip netns exec docker-node1 ip6tables -w -t nat -A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -m comment --comment 'netlab:docker published ports, for packets from this host itself (::1 is docker-proxy'\''s)' -j DOCKER
ip netns exec docker-node1 ip6tables -w -t filter -A FORWARD -m comment --comment 'netlab:docker the place for the user'\''s own rules, first' -j DOCKER-USER
ip netns exec docker-node1 ip6tables -w -t filter -A FORWARD -m comment --comment 'netlab:docker Docker'\''s forwarding rules' -j DOCKER-FORWARD
ip netns exec docker-node1 ip6tables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker replies first' -j DOCKER-CT
ip netns exec docker-node1 ip6tables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker Docker networks do not reach each other' -j DOCKER-ISOLATION-STAGE-1
ip netns exec docker-node1 ip6tables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker into a bridge' -j DOCKER-BRIDGE
ip netns exec docker-node2 sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
ip netns exec docker-node2 sysctl -qw net.ipv4.ip_forward=1
ip -n docker-node2 link add docker0 address 1e:20:21:22:23:24 type bridge
ip -n docker-node2 link set docker0 alias netlab:docker:docker0
ip -n docker-node2 link set docker0 up
ip -n docker-node2 addr add 172.17.0.1/16 dev docker0
mkdir -p /etc/netns/docker-node2
printf '%s' '# netlab:docker\nnameserver 192.168.56.1\n' > /etc/netns/docker-node2/resolv.conf
ip netns add docker-c3
ip netns exec docker-c3 sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1 net.ipv4.ip_unprivileged_port_start=0 'net.ipv4.ping_group_range=0 2147483647' net.ipv6.conf.default.disable_ipv6=1
ip netns exec docker-c3 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n docker-c3 link set lo up alias netlab:docker:c3
ip -n docker-node2 link add veth-c3 master docker0 up type veth peer name eth0 address 12:14:15:16:17:18 netns docker-c3
ip -n docker-node2 link set veth-c3 alias netlab:docker:c3
ip -n docker-c3 link set eth0 up
ip netns exec docker-c3 sysctl -qw net.ipv6.conf.default.disable_ipv6=0
ip -n docker-c3 addr add 172.17.0.2/16 dev eth0
ip -n docker-c3 route add default via 172.17.0.1
mkdir -p /etc/netns/docker-c3
printf '%s' '# netlab:docker\n# Generated by Docker Engine.\n# This file can be edited; Docker Engine will not make further changes once it\n# has been modified.\n\nnameserver 192.168.56.1\n\n# Based on host file: '\''/etc/resolv.conf'\'' (legacy)\n# Overrides: []\n' > /etc/netns/docker-c3/resolv.conf
ip netns add docker-c4
ip netns exec docker-c4 sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1 net.ipv4.ip_unprivileged_port_start=0 'net.ipv4.ping_group_range=0 2147483647' net.ipv6.conf.default.disable_ipv6=1
ip netns exec docker-c4 sysctl -qew net.bridge.bridge-nf-call-iptables=1
ip -n docker-c4 link set lo up alias netlab:docker:c4
ip -n docker-node2 link add veth-c4 master docker0 up type veth peer name eth0 address 1a:1a:1b:1c:1d:1e netns docker-c4
ip -n docker-node2 link set veth-c4 alias netlab:docker:c4
ip -n docker-c4 link set eth0 up
ip netns exec docker-c4 sysctl -qw net.ipv6.conf.default.disable_ipv6=0
ip -n docker-c4 addr add 172.17.0.3/16 dev eth0
ip -n docker-c4 route add default via 172.17.0.1
mkdir -p /etc/netns/docker-c4
printf '%s' '# netlab:docker\n# Generated by Docker Engine.\n# This file can be edited; Docker Engine will not make further changes once it\n# has been modified.\n\nnameserver 192.168.56.1\n\n# Based on host file: '\''/etc/resolv.conf'\'' (legacy)\n# Overrides: []\n' > /etc/netns/docker-c4/resolv.conf
ip netns exec docker-node2 iptables -w -t nat -N DOCKER
ip netns exec docker-node2 iptables -w -t filter -N DOCKER
ip netns exec docker-node2 iptables -w -t filter -N DOCKER-BRIDGE
ip netns exec docker-node2 iptables -w -t filter -N DOCKER-CT
ip netns exec docker-node2 iptables -w -t filter -N DOCKER-FORWARD
ip netns exec docker-node2 iptables -w -t filter -N DOCKER-ISOLATION-STAGE-1
ip netns exec docker-node2 iptables -w -t filter -N DOCKER-ISOLATION-STAGE-2
ip netns exec docker-node2 iptables -w -t filter -N DOCKER-USER
ip netns exec docker-node2 iptables -w -t filter -P FORWARD DROP
ip netns exec docker-node2 iptables -w -t raw -A PREROUTING -d 172.17.0.2/32 ! -i docker0 -m comment --comment 'netlab:docker no way into c3 but through docker0: routed from elsewhere, dropped' -j DROP
ip netns exec docker-node2 iptables -w -t raw -A PREROUTING -d 172.17.0.3/32 ! -i docker0 -m comment --comment 'netlab:docker no way into c4 but through docker0: routed from elsewhere, dropped' -j DROP
ip netns exec docker-node2 iptables -w -t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment 'netlab:docker published ports, for packets arriving at this host' -j DOCKER
ip netns exec docker-node2 iptables -w -t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment 'netlab:docker published ports, for packets from this host itself (127.0.0.1 is docker-proxy'\''s)' -j DOCKER
ip netns exec docker-node2 iptables -w -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -m comment --comment 'netlab:docker containers leaving the host take its address' -j MASQUERADE
ip netns exec docker-node2 iptables -w -t nat -A DOCKER -i docker0 -m comment --comment 'netlab:docker containers do not go through published ports: docker-proxy serves them' -j RETURN
ip netns exec docker-node2 iptables -w -t nat -A DOCKER ! -i docker0 -p tcp --dport 8080 -m comment --comment 'netlab:docker publish c3:80 on port 8080' -j DNAT --to-destination 172.17.0.2:80
ip netns exec docker-node2 iptables -w -t filter -A FORWARD -m comment --comment 'netlab:docker the place for the user'\''s own rules, first' -j DOCKER-USER
ip netns exec docker-node2 iptables -w -t filter -A FORWARD -m comment --comment 'netlab:docker Docker'\''s forwarding rules' -j DOCKER-FORWARD
ip netns exec docker-node2 iptables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker replies first' -j DOCKER-CT
ip netns exec docker-node2 iptables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker Docker networks do not reach each other' -j DOCKER-ISOLATION-STAGE-1
ip netns exec docker-node2 iptables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker into a bridge' -j DOCKER-BRIDGE
ip netns exec docker-node2 iptables -w -t filter -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp --dport 80 -m comment --comment 'netlab:docker the published port' -j ACCEPT
ip netns exec docker-node2 iptables -w -t filter -A DOCKER ! -i docker0 -o docker0 -m comment --comment 'netlab:docker nothing else into docker0 from outside it' -j DROP
ip netns exec docker-node2 iptables -w -t filter -A DOCKER-BRIDGE -o docker0 -m comment --comment 'netlab:docker into docker0: its published ports' -j DOCKER
ip netns exec docker-node2 iptables -w -t filter -A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment 'netlab:docker replies to containers' -j ACCEPT
ip netns exec docker-node2 iptables -w -t filter -A DOCKER-FORWARD -i docker0 -m comment --comment 'netlab:docker containers may go anywhere' -j ACCEPT
ip netns exec docker-node2 iptables -w -t filter -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -m comment --comment 'netlab:docker leaving docker0 for another interface' -j DOCKER-ISOLATION-STAGE-2
ip netns exec docker-node2 iptables -w -t filter -A DOCKER-ISOLATION-STAGE-2 -o docker0 -m comment --comment 'netlab:docker not into another Docker network' -j DROP
ip netns exec docker-node2 ip6tables -w -t nat -N DOCKER
ip netns exec docker-node2 ip6tables -w -t filter -N DOCKER
ip netns exec docker-node2 ip6tables -w -t filter -N DOCKER-BRIDGE
ip netns exec docker-node2 ip6tables -w -t filter -N DOCKER-CT
ip netns exec docker-node2 ip6tables -w -t filter -N DOCKER-FORWARD
ip netns exec docker-node2 ip6tables -w -t filter -N DOCKER-ISOLATION-STAGE-1
ip netns exec docker-node2 ip6tables -w -t filter -N DOCKER-ISOLATION-STAGE-2
ip netns exec docker-node2 ip6tables -w -t filter -N DOCKER-USER
ip netns exec docker-node2 ip6tables -w -t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment 'netlab:docker published ports, for packets arriving at this host' -j DOCKER
ip netns exec docker-node2 ip6tables -w -t nat -A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -m comment --comment 'netlab:docker published ports, for packets from this host itself (::1 is docker-proxy'\''s)' -j DOCKER
ip netns exec docker-node2 ip6tables -w -t filter -A FORWARD -m comment --comment 'netlab:docker the place for the user'\''s own rules, first' -j DOCKER-USER
ip netns exec docker-node2 ip6tables -w -t filter -A FORWARD -m comment --comment 'netlab:docker Docker'\''s forwarding rules' -j DOCKER-FORWARD
ip netns exec docker-node2 ip6tables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker replies first' -j DOCKER-CT
ip netns exec docker-node2 ip6tables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker Docker networks do not reach each other' -j DOCKER-ISOLATION-STAGE-1
ip netns exec docker-node2 ip6tables -w -t filter -A DOCKER-FORWARD -m comment --comment 'netlab:docker into a bridge' -j DOCKER-BRIDGE
