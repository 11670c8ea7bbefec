package netops

import (
	"errors"

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
	return Do(ns, func() error {
		req := nl.NewNetlinkRequest(nfnlSubsysAcct<<8|nfnlMsgAcctGet, unix.NLM_F_DUMP)
		req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_UNSPEC, Version: 0})
		_, err := req.Execute(unix.NETLINK_NETFILTER, 0)
		return err
	}) == nil
}
