// Package ipam hands out addresses from a subnet the way Docker's and the
// CNI host-local allocators do by default: the first address is the
// gateway on the bridge, workloads take the ones after it, in order.
package ipam

import (
	"fmt"
	"math/big"
	"net/netip"
)

// Size returns how many addresses p holds that a host may use: all but the
// network and broadcast addresses.
func Size(p netip.Prefix) uint64 {
	bits := p.Addr().BitLen() - p.Bits()
	if bits >= 63 {
		return 1 << 62
	}
	n := uint64(1) << bits
	if n <= 2 {
		return 0
	}
	return n - 2
}

// Nth returns the n-th usable address of p, counting from 1 (so Nth(p, 1)
// is the gateway, 172.17.0.1 in 172.17.0.0/16).
func Nth(p netip.Prefix, n uint64) (netip.Addr, error) {
	p = p.Masked()
	if n < 1 || n > Size(p) {
		return netip.Addr{}, fmt.Errorf("%s has %d usable addresses, not %d", p, Size(p), n)
	}
	b := new(big.Int).SetBytes(p.Addr().AsSlice())
	b.Add(b, new(big.Int).SetUint64(n))
	raw := b.FillBytes(make([]byte, p.Addr().BitLen()/8))
	a, _ := netip.AddrFromSlice(raw)
	return a, nil
}

// HostNumber is a's number in p: how far it is from p's network address
// (172.17.0.2 in 172.17.0.0/16 is 2), the n of Nth(p, n).
func HostNumber(p netip.Prefix, a netip.Addr) uint64 {
	d := new(big.Int).Sub(new(big.Int).SetBytes(a.AsSlice()), new(big.Int).SetBytes(p.Masked().Addr().AsSlice()))
	return d.Uint64()
}
