package netops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	cnins "github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live, as for `ip netns`.
const NetnsDir = "/run/netns"

// maxCached bounds the namespace handles a runner keeps open: labs touch a
// namespace in one burst, and a thousand open handles would cost two
// thousand file descriptors for nothing.
const maxCached = 32

type handle struct {
	ns netns.NsHandle
	nl *netlink.Handle
}

func (h *handle) close() {
	h.nl.Close()
	h.ns.Close()
}

type kernel struct {
	cache map[NS]*handle
	order []NS
}

func newKernel() *kernel { return &kernel{cache: map[NS]*handle{}} }

func (k *kernel) close() {
	for _, h := range k.cache {
		h.close()
	}
	k.cache, k.order = map[NS]*handle{}, nil
}

// get returns a netlink handle acting inside ns, without moving any thread.
func (k *kernel) get(ns NS) (*handle, error) {
	if h, ok := k.cache[ns]; ok {
		// Most recently used goes last, so the node a burst of ops keeps
		// coming back to is never the one evicted.
		for i, o := range k.order {
			if o == ns {
				k.order = append(append(k.order[:i:i], k.order[i+1:]...), ns)
				break
			}
		}
		return h, nil
	}
	h, err := Open(ns)
	if err != nil {
		return nil, err
	}
	k.put(ns, h)
	return h, nil
}

// put caches h as the handle of ns, evicting the least recently used.
func (k *kernel) put(ns NS, h *handle) {
	if old, ok := k.cache[ns]; ok {
		old.close()
		delete(k.cache, ns)
		for i, o := range k.order {
			if o == ns {
				k.order = append(k.order[:i:i], k.order[i+1:]...)
				break
			}
		}
	}
	if len(k.order) >= maxCached {
		old := k.order[0]
		k.order = k.order[1:]
		k.cache[old].close()
		delete(k.cache, old)
	}
	k.cache[ns] = h
	k.order = append(k.order, ns)
}

// Open returns handles on ns: the namespace file and a netlink socket in it.
func Open(ns NS) (*handle, error) {
	var nsh netns.NsHandle
	var err error
	if ns == Host {
		nsh, err = netns.Get()
	} else {
		nsh, err = netns.GetFromPath(Path(ns))
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %q: %w", ns, err)
	}
	// The families netlab speaks: links, addresses, routes, neighbours
	// (route) and conntrack (netfilter); not xfrm, whose socket would cost
	// two more setns calls each time a handle opens.
	nl, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
	if err != nil {
		nsh.Close()
		return nil, fmt.Errorf("netlink socket in %q: %w", ns, err)
	}
	return &handle{ns: nsh, nl: nl}, nil
}

// Path returns the file of a named namespace.
func Path(ns NS) string { return filepath.Join(NetnsDir, string(ns)) }

func (k *kernel) apply(op Op) error {
	switch o := op.(type) {
	case NetnsAdd:
		h, err := createNetns(o.Name, o.Marker, o.Sysctls)
		if err != nil {
			return err
		}
		k.put(NS(o.Name), h)
		return nil
	case Sysctl:
		return Do(o.NS, func() error { return writeSysctls(o.Settings) })
	case BridgeAdd:
		h, err := k.get(o.NS)
		if err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: linkAttrs(o.Name, o.MTU)}
		if o.MAC != "" {
			mac, err := net.ParseMAC(o.MAC)
			if err != nil {
				return err
			}
			br.HardwareAddr = mac
		}
		if err := h.nl.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %q: %w", o.Name, err)
		}
		if err := h.nl.LinkSetAlias(br, o.Alias); err != nil {
			return err
		}
		// Up once it exists, as `ip link set up` does: a bridge created up
		// reads "state UNKNOWN" instead of UP, unlike Docker's docker0.
		return h.nl.LinkSetUp(br)
	case VethAdd:
		return k.veth(o)
	case VxlanAdd:
		return k.vxlan(o)
	case NeighReplace:
		ip, family := net.ParseIP(o.IP), netlink.FAMILY_V4
		if ip.To4() == nil {
			family = netlink.FAMILY_V6
		}
		return k.neigh(o.NS, o.Dev, &netlink.Neigh{IP: ip, State: netlink.NUD_PERMANENT, Family: family}, o.MAC)
	case FdbReplace:
		return k.neigh(o.NS, o.Dev, &netlink.Neigh{IP: net.ParseIP(o.Dst), State: netlink.NUD_PERMANENT,
			Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF}, o.MAC)
	case Ethtool:
		return Do(o.NS, func() error {
			out, err := exec.Command("ethtool", append([]string{"-K", o.Dev}, o.Settings...)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("ethtool -K %s: %v: %s", o.Dev, err, strings.TrimSpace(string(out)))
			}
			return nil
		})
	case AddrAdd:
		h, l, err := k.link(o.NS, o.Dev)
		if err != nil {
			return err
		}
		a, err := netlink.ParseAddr(o.CIDR)
		if err != nil {
			return err
		}
		if o.NoDAD {
			a.Flags |= unix.IFA_F_NODAD
		}
		return h.nl.AddrAdd(l, a)
	case RouteAdd:
		return k.route(o)
	case RouteDel:
		err := k.routeDel(o)
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENODEV) {
			return nil // gone already
		}
		return err
	case IPTables:
		return restore(o.NS, o.Tool()+"-restore", o.Restore())
	case IPTablesDel:
		return restore(o.NS, o.tool()+"-restore", o.Restore())
	case IPSets:
		return Do(o.NS, func() error {
			cmd := exec.Command("ipset", "restore")
			cmd.Stdin = strings.NewReader(o.Restore())
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("ipset restore: %v: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		})
	case NFT:
		return Do(o.NS, func() error {
			cmd := exec.Command("nft", "-f", "-")
			cmd.Stdin = strings.NewReader(o.Script())
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("nft -f: %v: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		})
	case LinkSet:
		return k.linkSet(o)
	case IPTablesRaw:
		return Do(o.NS, func() error {
			out, err := exec.Command("iptables", o.Args()...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("iptables %s: %v: %s", strings.Join(o.Args(), " "), err, strings.TrimSpace(string(out)))
			}
			return nil
		})
	case ResolvConf:
		return writeResolvConf(string(o.NS), o.Text())
	case Nfacct:
		return Do(o.NS, func() error {
			for _, n := range o.Names {
				if err := nfacct(n, o.Del); err != nil {
					return fmt.Errorf("nfacct %s: %w", n, err)
				}
			}
			return nil
		})
	case ConntrackDel:
		h, err := k.get(o.NS)
		if err != nil {
			return err
		}
		f := &netlink.ConntrackFilter{}
		proto := map[string]uint8{"udp": unix.IPPROTO_UDP, "tcp": unix.IPPROTO_TCP}[o.Proto]
		if err := f.AddProtocol(proto); err != nil {
			return err
		}
		if err := f.AddIP(netlink.ConntrackOrigDstIP, net.ParseIP(o.OrigDst)); err != nil {
			return err
		}
		if o.ReplySrc != "" {
			if err := f.AddIP(netlink.ConntrackReplySrcIP, net.ParseIP(o.ReplySrc)); err != nil {
				return err
			}
		}
		_, err = h.nl.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f)
		return err
	case FdbDel:
		h, l, err := k.link(o.NS, o.Dev)
		if err != nil {
			return err
		}
		mac, err := net.ParseMAC(o.MAC)
		if err != nil {
			return err
		}
		err = h.nl.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			IP: net.ParseIP(o.Dst), HardwareAddr: mac})
		if errors.Is(err, unix.ENOENT) {
			return nil // gone already
		}
		return err
	case NetnsDel:
		return DeleteNetns(o.Name)
	case LinkDel:
		h, err := k.get(o.NS)
		if err != nil {
			return err
		}
		l, err := h.nl.LinkByName(o.Name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil // gone already
			}
			return err
		}
		if err := h.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return err
		}
		return nil
	}
	return fmt.Errorf("netops: no way to apply %T", op)
}

// restore loads iptables-restore --noflush input in ns, one transaction
// per table.
func restore(ns NS, tool, input string) error {
	return Do(ns, func() error {
		cmd := exec.Command(tool, "-w", "--noflush")
		cmd.Stdin = strings.NewReader(input)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v: %s", tool, err, strings.TrimSpace(stderr.String()))
		}
		return nil
	})
}

func (k *kernel) veth(o VethAdd) error {
	h, err := k.get(o.NS)
	if err != nil {
		return err
	}
	peer, err := k.get(o.PeerNS)
	if err != nil {
		return err
	}
	attrs := linkAttrs(o.Name, o.MTU)
	attrs.Flags = net.FlagUp
	if o.Master != "" {
		m, err := h.nl.LinkByName(o.Master)
		if err != nil {
			return fmt.Errorf("find bridge %q: %w", o.Master, err)
		}
		attrs.MasterIndex = m.Attrs().Index
	}
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: o.PeerName, PeerTxQLen: -1}
	if o.PeerMAC != "" {
		mac, err := net.ParseMAC(o.PeerMAC)
		if err != nil {
			return err
		}
		v.PeerHardwareAddr = mac
	}
	if o.PeerNS != o.NS {
		v.PeerNamespace = netlink.NsFd(peer.ns)
	}
	if err := h.nl.LinkAdd(v); err != nil {
		return fmt.Errorf("add veth pair %q/%q: %w", o.Name, o.PeerName, err)
	}
	if o.Alias != "" {
		if err := h.nl.LinkSetAlias(v, o.Alias); err != nil {
			return fmt.Errorf("mark %q: %w", o.Name, err)
		}
	}
	if o.Hairpin {
		if err := h.nl.LinkSetHairpin(v, true); err != nil {
			return fmt.Errorf("hairpin on %q: %w", o.Name, err)
		}
	}
	p, err := peer.nl.LinkByName(o.PeerName)
	if err != nil {
		return fmt.Errorf("find %q in %q: %w", o.PeerName, o.PeerNS, err)
	}
	return peer.nl.LinkSetUp(p)
}

func (k *kernel) vxlan(o VxlanAdd) error {
	h, err := k.get(o.NS)
	if err != nil {
		return err
	}
	dev, err := h.nl.LinkByName(o.Dev)
	if err != nil {
		return fmt.Errorf("find underlay device %q: %w", o.Dev, err)
	}
	mac, err := net.ParseMAC(o.MAC)
	if err != nil {
		return err
	}
	v := &netlink.Vxlan{
		LinkAttrs:    linkAttrs(o.Name, o.MTU),
		VxlanId:      o.VNI,
		VtepDevIndex: dev.Attrs().Index,
		SrcAddr:      net.ParseIP(o.Local),
		Port:         o.Port,
		Learning:     false,
	}
	v.HardwareAddr = mac
	if err := h.nl.LinkAdd(v); err != nil {
		return fmt.Errorf("add vxlan %q: %w", o.Name, err)
	}
	if err := h.nl.LinkSetAlias(v, o.Alias); err != nil {
		return err
	}
	a, err := netlink.ParseAddr(o.Addr)
	if err != nil {
		return err
	}
	if o.NoDAD {
		a.Flags |= unix.IFA_F_NODAD
	}
	if err := h.nl.AddrAdd(v, a); err != nil {
		return fmt.Errorf("address %s on %q: %w", o.Addr, o.Name, err)
	}
	return h.nl.LinkSetUp(v)
}

// link finds dev in ns.
func (k *kernel) link(ns NS, dev string) (*handle, netlink.Link, error) {
	h, err := k.get(ns)
	if err != nil {
		return nil, nil, err
	}
	l, err := h.nl.LinkByName(dev)
	if err != nil {
		return nil, nil, fmt.Errorf("find %q: %w", dev, err)
	}
	return h, l, nil
}

func (k *kernel) linkSet(o LinkSet) error {
	h, l, err := k.link(o.NS, o.Name)
	if err != nil {
		return err
	}
	if o.MTU > 0 {
		if err := h.nl.LinkSetMTU(l, o.MTU); err != nil {
			return fmt.Errorf("mtu of %q: %w", o.Name, err)
		}
	}
	if o.NoMaster {
		if err := h.nl.LinkSetNoMaster(l); err != nil {
			return fmt.Errorf("%q off its bridge: %w", o.Name, err)
		}
	}
	if o.Hairpin != nil {
		if err := h.nl.LinkSetHairpin(l, *o.Hairpin); err != nil {
			return fmt.Errorf("hairpin of %q: %w", o.Name, err)
		}
	}
	if o.Down {
		return h.nl.LinkSetDown(l)
	}
	return nil
}

// neigh replaces an ARP or FDB entry (n.Family says which), as flannel
// does per peer: a second run converges instead of failing.
func (k *kernel) neigh(ns NS, dev string, n *netlink.Neigh, mac string) error {
	h, err := k.get(ns)
	if err != nil {
		return err
	}
	l, err := h.nl.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("find %q: %w", dev, err)
	}
	if n.HardwareAddr, err = net.ParseMAC(mac); err != nil {
		return err
	}
	n.LinkIndex = l.Attrs().Index
	return h.nl.NeighSet(n)
}

func (k *kernel) route(o RouteAdd) error {
	h, r, err := k.routeOf(o.NS, o.Dst, o.Via, o.Dev)
	if err != nil {
		return err
	}
	if o.Onlink {
		r.Flags = int(netlink.FLAG_ONLINK)
	}
	return h.nl.RouteAdd(r)
}

func (k *kernel) routeDel(o RouteDel) error {
	h, r, err := k.routeOf(o.NS, o.Dst, o.Via, o.Dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil // its device is gone, and the route with it
		}
		return err
	}
	return h.nl.RouteDel(r)
}

// routeOf is the netlink route of dst via via on dev, in ns.
func (k *kernel) routeOf(ns NS, dstS, via, dev string) (*handle, *netlink.Route, error) {
	h, err := k.get(ns)
	if err != nil {
		return nil, nil, err
	}
	o := struct{ Dst, Via, Dev string }{dstS, via, dev}
	r := &netlink.Route{}
	if o.Dst != "default" {
		_, dst, err := net.ParseCIDR(o.Dst)
		if err != nil {
			return nil, nil, err
		}
		r.Dst = dst
	}
	if o.Via != "" {
		r.Gw = net.ParseIP(o.Via)
	}
	if o.Dev != "" {
		l, err := h.nl.LinkByName(o.Dev)
		if err != nil {
			return nil, nil, fmt.Errorf("find %q: %w", o.Dev, err)
		}
		r.LinkIndex = l.Attrs().Index
	}
	return h, r, nil
}

// IPTablesSave is what iptables-save prints of table in namespace ns
// (every table when table is ""), in the C locale: it is parsed.
func IPTablesSave(ns NS, table string) (string, error) {
	return iptablesSave("iptables-save", ns, table, false)
}

// IP6TablesSave is IPTablesSave of ip6tables.
func IP6TablesSave(ns NS, table string) (string, error) {
	return iptablesSave("ip6tables-save", ns, table, false)
}

// IPTablesSaveCounters is IPTablesSave with each rule's counters in
// front of it ("[packets:bytes] -A ..."), as iptables-save -c prints them.
func IPTablesSaveCounters(ns NS, table string) (string, error) {
	return iptablesSave("iptables-save", ns, table, true)
}

// IP6TablesSaveCounters is IPTablesSaveCounters of ip6tables.
func IP6TablesSaveCounters(ns NS, table string) (string, error) {
	return iptablesSave("ip6tables-save", ns, table, true)
}

// IPSetSave is `ipset save` in namespace ns (NetworkPolicy's sets), ""
// where ipset is not installed (then no rule can name a set).
func IPSetSave(ns NS) (string, error) {
	if _, err := exec.LookPath("ipset"); err != nil {
		return "", nil
	}
	argv := []string{"ipset", "save"}
	if ns != Host {
		argv = append([]string{"ip", "netns", "exec", string(ns)}, argv...)
	}
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "", fmt.Errorf("%s in %s: %v", strings.Join(argv, " "), nsWhere(ns), err)
	}
	return string(out), nil
}

func iptablesSave(tool string, ns NS, table string, counters bool) (string, error) {
	argv := []string{tool}
	if counters {
		argv = append(argv, "-c")
	}
	if table != "" {
		argv = append(argv, "-t", table)
	}
	if ns != Host {
		argv = append([]string{"ip", "netns", "exec", string(ns)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s in %s: %v: %s", strings.Join(argv, " "), nsWhere(ns), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// ReadSysctl reads a kernel parameter (net.ipv4.ip_forward) as namespace
// ns sees it.
func ReadSysctl(ns NS, key string) (string, error) {
	var v []byte
	err := Do(ns, func() error {
		var err error
		v, err = os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		return err
	})
	return strings.TrimSpace(string(v)), err
}

func nsWhere(ns NS) string {
	if ns == Host {
		return "this machine's own namespace"
	}
	return string(ns)
}

// InEach runs fn inside each namespace of nss in turn, on one thread that
// enters each (a setns each, not the two opens and two setns of Do): for
// reading many namespaces at once. A namespace that cannot be entered (gone
// meanwhile) is skipped, with fn not called for it.
func InEach(nss []NS, fn func(NS)) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		for _, ns := range nss {
			if ns == Host {
				if netns.Set(orig) == nil {
					fn(ns)
				}
				continue
			}
			h, err := netns.GetFromPath(Path(ns))
			if err != nil {
				continue
			}
			if netns.Set(h) == nil {
				fn(ns)
			}
			h.Close()
		}
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with this goroutine: no
			// other goroutine runs in a namespace it did not ask for.
			done <- fmt.Errorf("return to netlab's own namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	return <-done
}

// Do runs fn on a thread that is inside ns, then moves the thread back.
// Sockets fn opens and processes it starts belong to ns. It is the CNI
// plugins' ns.Do: a locked OS thread that is thrown away if it cannot be
// moved back, so no goroutine ever runs in the wrong namespace.
func Do(ns NS, fn func() error) error {
	if ns == Host {
		return fn()
	}
	err := cnins.WithNetNSPath(Path(ns), func(cnins.NetNS) error { return fn() })
	if err != nil {
		return fmt.Errorf("in network namespace %q: %w", ns, err)
	}
	return nil
}

var sharedOnce sync.Once
var sharedErr error

// prepareNetnsDir makes /run/netns a shared mount point, as `ip netns add`
// does, so namespaces mounted later show up in other mount namespaces too.
func prepareNetnsDir() error {
	sharedOnce.Do(func() {
		if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
			sharedErr = err
			return
		}
		err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if errors.Is(err, unix.EINVAL) {
			if err = unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
			}
		}
		if err != nil {
			sharedErr = fmt.Errorf("make %s a shared mount: %w", NetnsDir, err)
		}
	})
	return sharedErr
}

// linkAttrs are the attributes of a new link: the kernel's defaults (as
// `ip link add` leaves them: TxQLen -1 means "unset", where the zero value
// would ask for a queue length of 0), with a name and, if given, an MTU.
func linkAttrs(name string, mtu int) netlink.LinkAttrs {
	a := netlink.NewLinkAttrs()
	a.Name, a.MTU = name, mtu
	return a
}

// writeSysctls sets kernel parameters in the calling thread's namespace.
//
// In order, each key's directory opened once: every component of a path
// under /proc/sys is looked up among the entries of every namespace on the
// machine, so with a thousand namespaces the walk from /proc/sys costs
// more than the write.
func writeSysctls(kvs []KV) error {
	dirs := map[string]int{}
	defer func() {
		for _, fd := range dirs {
			unix.Close(fd)
		}
	}()
	for _, s := range kvs {
		p := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
		dir, base := filepath.Split(p)
		err := func() error {
			dfd, ok := dirs[dir]
			if !ok {
				var err error
				if dfd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
					return &os.PathError{Op: "open", Path: dir, Err: err}
				}
				dirs[dir] = dfd
			}
			fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: p, Err: err}
			}
			defer unix.Close(fd)
			if _, err := unix.Write(fd, []byte(s.Value)); err != nil {
				return &os.PathError{Op: "write", Path: p, Err: err}
			}
			return nil
		}()
		if err != nil {
			if s.Optional && errors.Is(err, os.ErrNotExist) {
				continue // not in this kernel (a module not loaded)
			}
			return fmt.Errorf("sysctl %s=%s: %w", s.Key, s.Value, err)
		}
	}
	return nil
}

// createNetns creates the named network namespace name, as `ip netns add`
// does, with its loopback up and carrying marker as its alias, and sysctls
// set. The marker is set before the namespace is given its name, so a named
// namespace of netlab's always carries it, whenever netlab is killed. It
// returns handles on the namespace, made while the thread was inside: no
// later op in the namespace has to enter it again.
func createNetns(name, marker string, sysctls []KV) (*handle, error) {
	if err := prepareNetnsDir(); err != nil {
		return nil, err
	}
	p := Path(NS(name))
	if err := createMountPoint(p, marker); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("network namespace %q already exists", name)
		}
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	type result struct {
		h   *handle
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer orig.Close()
		h, err := inNewNetns(p, marker, sysctls)
		if serr := netns.Set(orig); serr != nil {
			if h != nil {
				h.close()
			}
			res <- result{err: errors.Join(err, serr)} // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		res <- result{h, err}
	}()
	r := <-res
	if r.err != nil {
		// A failed unshare or mount leaves only the empty file: remove it.
		if !IsNetns(p) {
			os.Remove(p)
		}
		return nil, fmt.Errorf("create network namespace %q: %w", name, r.err)
	}
	return r.h, nil
}

// XattrMarker is the extended attribute that carries netlab's marker on the
// file a namespace is mounted on.
const XattrMarker = "trusted.netlab"

// createMountPoint creates the empty file a namespace is mounted on. The
// file is born unnamed, given the marker, and only then linked under its
// name: if netlab is killed before the mount, the empty file left behind
// still says whose it is, and down removes it.
func createMountPoint(p, marker string) error {
	fd, err := unix.Open(NetnsDir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return plainMountPoint(p)
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, XattrMarker, []byte(marker), 0); err != nil {
		return plainMountPoint(p) // no xattrs here: the state file's plan covers it
	}
	err = unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.EEXIST) {
		return os.ErrExist
	}
	return err
}

func plainMountPoint(p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	return f.Close()
}

// FileMarker returns the marker on an empty mount-point file, if any.
func FileMarker(p string) string {
	b := make([]byte, 256)
	n, err := unix.Getxattr(p, XattrMarker, b)
	if err != nil {
		return ""
	}
	return string(b[:n])
}

// inNewNetns moves the calling (locked) thread into a new network namespace,
// brings lo up with the marker, sets sysctls and bind-mounts the namespace
// onto p. It returns handles on the namespace.
func inNewNetns(p, marker string, sysctls []KV) (*handle, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("unshare: %w", err)
	}
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*handle, error) { nl.Close(); return nil, err }
	// Sysctls first: with IPv6 off before lo comes up, lo never gets ::1,
	// which would only cost time to add and to take away again.
	if err := writeSysctls(sysctls); err != nil {
		return fail(err)
	}
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return fail(err)
	}
	if err := nl.LinkSetAlias(lo, marker); err != nil {
		return fail(fmt.Errorf("mark lo: %w", err))
	}
	if err := nl.LinkSetUp(lo); err != nil {
		return fail(fmt.Errorf("lo up: %w", err))
	}
	self, err := netns.Get()
	if err != nil {
		return fail(err)
	}
	src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
		self.Close()
		return fail(fmt.Errorf("bind mount %s: %w", p, err))
	}
	return &handle{ns: self, nl: nl}, nil
}

// DeleteNetns removes a named namespace, as `ip netns del` does. The kernel
// then frees it, with every interface in it, once no process holds it. A
// namespace that is already gone is not an error: delete may run many times.
func DeleteNetns(name string) error {
	removeResolvConf(name)
	p := Path(NS(name))
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// EtcNetns is where `ip netns exec` finds a namespace's own /etc files.
var EtcNetns = "/etc/netns"

// etcNetnsDir opens EtcNetns/name as a directory, creating it (and
// EtcNetns) when asked, without following a symlink at either step and
// only if each is root's and writable by root alone: a directory or link
// planted there by someone else makes netlab write nothing.
func etcNetnsDir(name string, create bool) (int, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return -1, fmt.Errorf("%q is not a namespace name", name)
	}
	if create {
		if err := os.Mkdir(EtcNetns, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return -1, err
		}
	}
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	top, err := unix.Open(EtcNetns, flags, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w (netlab follows no symlink there)", EtcNetns, err)
	}
	defer unix.Close(top)
	if err := rootsAlone(top, EtcNetns); err != nil {
		return -1, err
	}
	if create {
		if err := unix.Mkdirat(top, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("mkdir %s/%s: %w", EtcNetns, name, err)
		}
	}
	d, err := unix.Openat(top, name, flags, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s/%s: %w (netlab follows no symlink there)", EtcNetns, name, err)
	}
	if err := rootsAlone(d, EtcNetns+"/"+name); err != nil {
		unix.Close(d)
		return -1, err
	}
	return d, nil
}

// rootsAlone says why the open directory fd is not root's alone.
func rootsAlone(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Uid != 0 || st.Mode&0o022 != 0 {
		return fmt.Errorf("%s belongs to uid %d with mode %o: netlab writes only into a directory of root's that no one else can write", path, st.Uid, st.Mode&0o777)
	}
	return nil
}

// resolvTemp is where writeResolvConf writes a resolv.conf before it
// renames it into place: a netlab killed half-way leaves this name, which
// SweepResolvConf knows, never a resolv.conf without its marker line.
const resolvTemp = ".resolv.conf.netlab"

// writeResolvConf writes EtcNetns/name/resolv.conf, following no symlink,
// whole or not at all (written aside, then renamed into place).
func writeResolvConf(name, text string) error {
	d, err := etcNetnsDir(name, true)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	// Something planted in place of the file is refused, not replaced.
	var st unix.Stat_t
	if err := unix.Fstatat(d, "resolv.conf", &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s/%s/resolv.conf is not a plain file (a symlink?): netlab follows no symlink there", EtcNetns, name)
	}
	fd, err := unix.Openat(d, resolvTemp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open %s/%s/%s: %w (netlab follows no symlink there)", EtcNetns, name, resolvTemp, err)
	}
	f := os.NewFile(uintptr(fd), resolvTemp)
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(d, resolvTemp, d, "resolv.conf")
	}
	if err != nil {
		_ = unix.Unlinkat(d, resolvTemp, 0)
		return fmt.Errorf("write %s/%s/resolv.conf: %w", EtcNetns, name, err)
	}
	return nil
}

// readResolvConf reads EtcNetns/name/resolv.conf, following no symlink.
func readResolvConf(name string) ([]byte, error) {
	d, err := etcNetnsDir(name, false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(d)
	fd, err := unix.Openat(d, "resolv.conf", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "resolv.conf")
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<10))
}

// removeResolvConf removes the resolv.conf netlab gave a namespace (its
// first line says so) and then the namespace's directory if that leaves it
// empty: never a file of someone else's, and never through a symlink.
func removeResolvConf(name string) {
	data, err := readResolvConf(name)
	if err != nil || !strings.HasPrefix(string(data), "# netlab:") {
		return
	}
	d, err := etcNetnsDir(name, false)
	if err != nil {
		return
	}
	_ = unix.Unlinkat(d, "resolv.conf", 0)
	unix.Close(d)
	top, err := unix.Open(EtcNetns, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		_ = unix.Unlinkat(top, name, unix.AT_REMOVEDIR) // only if empty
		unix.Close(top)
	}
}

// SweepResolvConf removes what is left in /etc/netns of lab's namespaces
// (a crash between a namespace's deletion and its file's): the files
// netlab wrote for lab, whose namespace is gone. It returns their paths.
func SweepResolvConf(lab string) []string {
	ents, _ := os.ReadDir(EtcNetns)
	var gone []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, lab+"-") || IsNetns(Path(NS(name))) {
			continue
		}
		// A write that a kill cut short: its temporary file, and the
		// directory it made, if nothing else is in it.
		if d, err := etcNetnsDir(name, false); err == nil {
			half := unix.Unlinkat(d, resolvTemp, 0) == nil
			unix.Close(d)
			if top, err := unix.Open(EtcNetns, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
				if unix.Unlinkat(top, name, unix.AT_REMOVEDIR) == nil || half {
					gone = append(gone, filepath.Join(EtcNetns, name))
				}
				unix.Close(top)
			}
		}
		data, err := readResolvConf(name)
		if err != nil || !strings.HasPrefix(string(data), "# netlab:"+lab+"\n") {
			continue
		}
		removeResolvConf(name)
		gone = append(gone, filepath.Join(EtcNetns, name))
	}
	return gone
}

// RouteGet is the kernel's route to dst in namespace ns, as 'ip route get'
// prints it ("10.244.2.2 via 10.244.2.0 dev flannel.1 src 10.244.1.0"),
// asked through netlink; an error when there is none (unreachable).
func RouteGet(ns NS, dst netip.Addr) (string, error) {
	h, err := Netlink(ns)
	if err != nil {
		return "", err
	}
	defer h.Close()
	rs, err := h.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return "", err
	}
	if len(rs) == 0 {
		return "", fmt.Errorf("no route to %s", dst)
	}
	dev := ""
	if l, err := h.LinkByIndex(rs[0].LinkIndex); err == nil {
		dev = l.Attrs().Name
	}
	return RouteText(&rs[0], dst, dev, ""), nil
}

// RouteText prints a route to dst as 'ip route get' does: through dev,
// and with "iif in" for a packet arriving on in (when in is set).
func RouteText(r *netlink.Route, dst netip.Addr, dev, in string) string {
	var b strings.Builder
	if r.Type == unix.RTN_LOCAL {
		b.WriteString("local ")
	}
	b.WriteString(dst.String())
	if r.Gw != nil {
		fmt.Fprintf(&b, " via %s", r.Gw)
	}
	if dev != "" {
		fmt.Fprintf(&b, " dev %s", dev)
	}
	if r.Src != nil {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	if in != "" {
		fmt.Fprintf(&b, " iif %s", in)
	}
	return b.String()
}

// IsNetns reports whether p is a mounted network namespace.
func IsNetns(p string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// LoAlias returns the alias of the loopback device in the named namespace:
// netlab's marker, if the namespace is netlab's.
func LoAlias(name string) (string, error) {
	// One route socket, no more: inventory reads a thousand of these.
	nsh, err := netns.GetFromPath(Path(NS(name)))
	if err != nil {
		return "", fmt.Errorf("open network namespace %q: %w", name, err)
	}
	defer nsh.Close()
	nl, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
	if err != nil {
		return "", fmt.Errorf("netlink socket in %q: %w", name, err)
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return "", err
	}
	return lo.Attrs().Alias, nil
}

// Netlink returns a netlink handle inside ns, for reading kernel state
// back; the caller closes it.
func Netlink(ns NS) (*netlink.Handle, error) {
	h, err := Open(ns)
	if err != nil {
		return nil, err
	}
	h.ns.Close()
	return h.nl, nil
}

// Links lists the links of namespace ns, once (a handle opened for the
// moment, and closed: one kept open would keep the namespace alive).
func Links(ns NS) ([]netlink.Link, error) {
	nl, err := Netlink(ns)
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	return Dump(nl.LinkList)
}

// Dump runs a netlink dump (a list of links, addresses, routes) again while
// the kernel says it changed under the dump (NLM_F_DUMP_INTR), as it does
// while it tears namespaces down: the CNI plugins' netlinksafe does the same.
func Dump[T any](f func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i == 20 {
			return v, err
		}
		time.Sleep(time.Millisecond)
	}
}

// Nameserver is the first nameserver of ns's resolv.conf, the one
// `ip netns exec` shows its processes (EtcNetns/ns/resolv.conf), or ""
// when it has none.
func Nameserver(ns NS) string {
	data, err := os.ReadFile(filepath.Join(EtcNetns, string(ns), "resolv.conf"))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), "nameserver "); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}
