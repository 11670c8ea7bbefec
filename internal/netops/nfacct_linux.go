package netops

import (
	"errors"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// nfnetlink_acct, as include/uapi/linux/netfilter/nfnetlink_acct.h has it.
const (
	nfnlSubsysAcct = 7 // NFNL_SUBSYS_ACCT
	nfnlMsgAcctNew = 0 // NFNL_MSG_ACCT_NEW
	nfnlMsgAcctGet = 1 // NFNL_MSG_ACCT_GET
	nfnlMsgAcctDel = 3 // NFNL_MSG_ACCT_DEL
	nfacctName     = 1 // NFACCT_NAME
)

// nfacct makes the counter name in the calling thread's namespace, or
// with del removes it. Making one that is there (EBUSY), removing one
// that is not (ENOENT) or that a rule uses (EBUSY) is no error.
func nfacct(name string, del bool) error {
	msg, flags := nfnlMsgAcctNew, unix.NLM_F_CREATE|unix.NLM_F_ACK
	if del {
		msg, flags = nfnlMsgAcctDel, unix.NLM_F_ACK
	}
	req := nl.NewNetlinkRequest(nfnlSubsysAcct<<8|msg, flags)
	req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_UNSPEC, Version: 0})
	req.AddData(nl.NewRtAttr(nfacctName, nl.ZeroTerminated(name)))
	_, err := req.Execute(unix.NETLINK_NETFILTER, 0)
	if errors.Is(err, unix.EBUSY) || (del && errors.Is(err, unix.ENOENT)) {
		return nil
	}
	return err
}

// NfacctAvailable reports whether ns's kernel keeps nfacct counters (the
// nfacct match of kube-proxy's rules needs them), by listing them, which
// changes nothing.
func NfacctAvailable(ns NS) bool {
	_, err := NfacctCounters(ns)
	return err == nil
}

// NfacctCounters lists the names of ns's nfacct counters (nfacct list).
func NfacctCounters(ns NS) ([]string, error) {
	var names []string
	err := Do(ns, func() error {
		req := nl.NewNetlinkRequest(nfnlSubsysAcct<<8|nfnlMsgAcctGet, unix.NLM_F_DUMP)
		req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_UNSPEC, Version: 0})
		msgs, err := req.Execute(unix.NETLINK_NETFILTER, 0)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if len(m) < nl.SizeofNfgenmsg {
				continue
			}
			attrs, err := nl.ParseRouteAttr(m[nl.SizeofNfgenmsg:])
			if err != nil {
				return err
			}
			for _, a := range attrs {
				if a.Attr.Type == nfacctName {
					names = append(names, strings.TrimRight(string(a.Value), "\x00"))
				}
			}
		}
		return nil
	})
	return names, err
}
