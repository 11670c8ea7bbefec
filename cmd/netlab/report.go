package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"netlab/internal/api"
	"netlab/web"
)

// reportTo is where 'exercise check --report' sends its checks: the
// teacher's 'netlab web --room'. Nothing is sent without --report.
type reportTo struct{ url, token, as string }

// reportTimeout bounds a report: a room's server answers at once.
const reportTimeout = 10 * time.Second

// validate checks the flags before any check runs.
func (r *reportTo) validate() error {
	if r.url == "" {
		if r.token != "" || r.as != "" {
			return usagef("--room-token and --as go with --report URL (the teacher's netlab web --room)")
		}
		return nil
	}
	u, err := url.Parse(r.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return usagef("--report %q: the teacher's netlab web as http://HOST:PORT (no path)", r.url)
	}
	r.url = u.Scheme + "://" + u.Host
	if r.token == "" {
		return usagef("--report needs --room-token: the room token the teacher's netlab web printed")
	}
	if strings.ContainsAny(r.token, " \t\r\n") {
		return usagef("--room-token %q: a token has no spaces", r.token)
	}
	if err := web.CheckLearner(r.as); err != nil {
		return usagef("--as: %v", err)
	}
	return nil
}

// send posts the checks to the room, and says what went wrong, if
// anything, with what to do.
func (r *reportTo) send(docs []api.Check) error {
	rep := web.Report{Learner: r.as}
	for _, d := range docs {
		// The room shows what was seen, never a hint.
		d.HintsHidden = false
		cs := make([]api.Criterion, len(d.Criteria))
		for i, c := range d.Criteria {
			c.Hint = ""
			cs[i] = c
		}
		d.Criteria = cs
		rep.Checks = append(rep.Checks, d)
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", r.url+"/api/room", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Netlab-Room-Token", r.token)
	resp, err := (&http.Client{Timeout: reportTimeout}).Do(req)
	if err != nil {
		return fmt.Errorf("the check ran, but reporting it to %s failed: %v: is the teacher's 'netlab web --room' reachable at that address?", r.url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		reason := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			reason = e.Error
		}
		return fmt.Errorf("the check ran, but the room at %s refused the report (%s): %s", r.url, resp.Status, reason)
	}
	return nil
}
