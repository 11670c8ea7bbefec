package who

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"netlab/internal/netops"
)

// Dial opens a TCP connection from inside namespace ns.
func Dial(ns netops.NS, addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := netops.Do(ns, func() error {
		var err error
		network := "tcp4"
		if addr.Addr().Is6() {
			network = "tcp6"
		}
		c, err = net.DialTimeout(network, addr.String(), timeout)
		return err
	})
	return c, err
}

// Ask asks the server at addr, from inside ns, who it is and whom it saw.
func Ask(ns netops.NS, addr netip.AddrPort) (Answer, error) {
	c, err := Dial(ns, addr, 3*time.Second)
	if err != nil {
		return Answer{}, err
	}
	defer c.Close()
	a, err := AskConn(c, addr.String())
	if err != nil {
		return a, errors.Join(fmt.Errorf("ask %s from %q", addr, ns), err)
	}
	return a, nil
}
