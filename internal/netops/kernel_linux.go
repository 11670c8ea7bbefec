package netops

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

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
	if len(k.order) >= maxCached {
		old := k.order[0]
		k.order = k.order[1:]
		k.cache[old].close()
		delete(k.cache, old)
	}
	k.cache[ns] = h
	k.order = append(k.order, ns)
	return h, nil
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
	nl, err := netlink.NewHandleAt(nsh)
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
		return CreateNetns(o.Name, o.Marker)
	case Sysctl:
		return Do(o.NS, func() error {
			for _, s := range o.Settings {
				p := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
				if err := os.WriteFile(p, []byte(s.Value), 0); err != nil {
					return fmt.Errorf("sysctl %s=%s: %w", s.Key, s.Value, err)
				}
			}
			return nil
		})
	case BridgeAdd:
		h, err := k.get(o.NS)
		if err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: o.Name, Flags: net.FlagUp}}
		if err := h.nl.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %q: %w", o.Name, err)
		}
		return h.nl.LinkSetAlias(br, o.Alias)
	case VethAdd:
		return k.veth(o)
	case AddrAdd:
		h, err := k.get(o.NS)
		if err != nil {
			return err
		}
		l, err := h.nl.LinkByName(o.Dev)
		if err != nil {
			return fmt.Errorf("find %q: %w", o.Dev, err)
		}
		a, err := netlink.ParseAddr(o.CIDR)
		if err != nil {
			return err
		}
		return h.nl.AddrAdd(l, a)
	case RouteAdd:
		return k.route(o)
	case IPTables:
		return Do(o.NS, func() error {
			cmd := exec.Command("iptables-restore", "-w", "--noflush")
			cmd.Stdin = strings.NewReader(o.Restore())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("iptables-restore: %v: %s", err, strings.TrimSpace(stderr.String()))
			}
			return nil
		})
	}
	return fmt.Errorf("netops: no way to apply %T", op)
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
	attrs := netlink.LinkAttrs{Name: o.Name, Flags: net.FlagUp, MTU: o.MTU}
	if o.Master != "" {
		m, err := h.nl.LinkByName(o.Master)
		if err != nil {
			return fmt.Errorf("find bridge %q: %w", o.Master, err)
		}
		attrs.MasterIndex = m.Attrs().Index
	}
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: o.PeerName}
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
	p, err := peer.nl.LinkByName(o.PeerName)
	if err != nil {
		return fmt.Errorf("find %q in %q: %w", o.PeerName, o.PeerNS, err)
	}
	return peer.nl.LinkSetUp(p)
}

func (k *kernel) route(o RouteAdd) error {
	h, err := k.get(o.NS)
	if err != nil {
		return err
	}
	r := &netlink.Route{}
	if o.Dst != "default" {
		_, dst, err := net.ParseCIDR(o.Dst)
		if err != nil {
			return err
		}
		r.Dst = dst
	}
	if o.Via != "" {
		r.Gw = net.ParseIP(o.Via)
	}
	if o.Dev != "" {
		l, err := h.nl.LinkByName(o.Dev)
		if err != nil {
			return fmt.Errorf("find %q: %w", o.Dev, err)
		}
		r.LinkIndex = l.Attrs().Index
	}
	if o.Onlink {
		r.Flags = int(netlink.FLAG_ONLINK)
	}
	return h.nl.RouteAdd(r)
}

// Do runs fn on a thread that is inside ns, then moves the thread back.
// Sockets fn opens and processes it starts belong to ns.
func Do(ns NS, fn func() error) error {
	if ns == Host {
		return fn()
	}
	target, err := netns.GetFromPath(Path(ns))
	if err != nil {
		return fmt.Errorf("open network namespace %q: %w", ns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh goroutine, locked to its thread: if the thread cannot be moved
	// back, it is left locked and the runtime throws it away when the
	// goroutine ends, so no other goroutine ever runs in the wrong namespace.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter %q: %w", ns, err)
			return
		}
		err = fn()
		if serr := netns.Set(orig); serr != nil {
			errc <- errors.Join(err, fmt.Errorf("leave %q: %w", ns, serr))
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
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

// CreateNetns creates the named network namespace name, as `ip netns add`
// does, with its loopback up and carrying marker as its alias. The marker is
// set before the namespace is given its name, so a named namespace of
// netlab's always carries it, whenever netlab is killed.
func CreateNetns(name, marker string) error {
	if err := prepareNetnsDir(); err != nil {
		return err
	}
	p := Path(NS(name))
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("network namespace %q already exists", name)
		}
		return fmt.Errorf("create %s: %w", p, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		err = inNewNetns(p, marker)
		if serr := netns.Set(orig); serr != nil {
			errc <- errors.Join(err, serr) // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		os.Remove(p)
		return fmt.Errorf("create network namespace %q: %w", name, err)
	}
	return nil
}

// inNewNetns moves the calling (locked) thread into a new network namespace,
// brings lo up with the marker and bind-mounts the namespace onto p.
func inNewNetns(p, marker string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	nl, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := nl.LinkSetAlias(lo, marker); err != nil {
		return fmt.Errorf("mark lo: %w", err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s: %w", p, err)
	}
	return nil
}

// DeleteNetns removes a named namespace, as `ip netns del` does. The kernel
// then frees it, with every interface in it, once no process holds it. A
// namespace that is already gone is not an error: delete may run many times.
func DeleteNetns(name string) error {
	p := Path(NS(name))
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
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
	h, err := Open(NS(name))
	if err != nil {
		return "", err
	}
	defer h.close()
	lo, err := h.nl.LinkByName("lo")
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
