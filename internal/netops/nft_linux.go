package netops

// Reads of nftables, as the nft tool answers them (its JSON where it has
// what is asked): what a sync of kube-proxy's nftables rules finds in
// place, and whose table it is.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrNoNFT says the nft tool is not installed.
var ErrNoNFT = errors.New("nft is not installed (apt-get install nftables)")

// nft runs nft with args in namespace ns and returns what it printed.
func nft(ns NS, args ...string) ([]byte, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, ErrNoNFT
	}
	argv := append([]string{"nft"}, args...)
	if ns != Host {
		argv = append([]string{"ip", "netns", "exec", string(ns)}, argv...)
	}
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		msg := err.Error()
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("%s in %s: %s", strings.Join(argv, " "), nsWhere(ns), msg)
	}
	return out, nil
}

// nftObject is one object of nft's JSON listing: a table, chain or set.
type nftObject struct {
	Table *struct{ Family, Name string }        `json:"table"`
	Chain *struct{ Family, Table, Name string } `json:"chain"`
	Set   *struct {
		Family, Table, Name string
		Timeout             int `json:"timeout"`
	} `json:"set"`
}

func nftList(ns NS, args ...string) ([]nftObject, error) {
	out, err := nft(ns, append([]string{"-j"}, args...)...)
	if err != nil {
		return nil, err
	}
	var l struct {
		Nftables []nftObject `json:"nftables"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		return nil, fmt.Errorf("nft %s in %s: %v", strings.Join(args, " "), nsWhere(ns), err)
	}
	return l.Nftables, nil
}

// NFTHasTable reports whether namespace ns has table name of family.
func NFTHasTable(ns NS, family, name string) (bool, error) {
	objs, err := nftList(ns, "list", "tables", family)
	if err != nil {
		return false, err
	}
	for _, o := range objs {
		if o.Table != nil && o.Table.Family == family && o.Table.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// NFTTableComment is the comment of table name of family in ns, "" for
// none (nft's JSON leaves it out: it is read from the listing's text).
func NFTTableComment(ns NS, family, name string) (string, error) {
	out, err := nft(ns, "-t", "list", "table", family, name)
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) > 1 {
		if c, ok := strings.CutPrefix(strings.TrimSpace(lines[1]), "comment "); ok {
			return strings.Trim(c, `"`), nil
		}
	}
	return "", nil
}

// NFTChains are the chains of table name of family in ns: none if there
// is no such table.
func NFTChains(ns NS, family, table string) ([]string, error) {
	objs, err := nftList(ns, "list", "chains", family)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		if o.Chain != nil && o.Chain.Family == family && o.Chain.Table == table {
			out = append(out, o.Chain.Name)
		}
	}
	return out, nil
}

// NFTSets are the sets of table name of family in ns, each with its
// timeout in seconds (0 for none), without their elements.
func NFTSets(ns NS, family, table string) (map[string]int, error) {
	objs, err := nftList(ns, "-t", "list", "sets", family)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, o := range objs {
		if o.Set != nil && o.Set.Family == family && o.Set.Table == table {
			out[o.Set.Name] = o.Set.Timeout
		}
	}
	return out, nil
}

// NFTRuleset is namespace ns's whole ruleset as nft's JSON; nothing
// where nft is not installed.
func NFTRuleset(ns NS) ([]byte, error) {
	out, err := nft(ns, "-j", "list", "ruleset")
	if errors.Is(err, ErrNoNFT) {
		return nil, nil
	}
	return out, err
}

// NFTRulesetText is ns's ruleset as text, each rule with its handle
// (nft -a): the rules as a learner reads them.
func NFTRulesetText(ns NS) ([]byte, error) { return nft(ns, "-a", "list", "ruleset") }

// NFTListTable is `nft -a list table FAMILY NAME` in ns: the table as nft
// prints it, each rule with its handle ("# handle 12").
func NFTListTable(ns NS, family, table string) (string, error) {
	out, err := nft(ns, "-a", "list", "table", family, table)
	return string(out), err
}
