package api

import "time"

// Exercise is one line of 'netlab exercise list --json'.
type Exercise struct {
	Version    int    `json:"version"`
	ID         string `json:"id"`
	Number     int    `json:"number"`
	Title      string `json:"title"`
	Model      string `json:"model"`
	Difficulty string `json:"difficulty"`
	// Lab is the lab the exercise builds: 'netlab status --lab' finds it.
	Lab     string `json:"lab"`
	Running bool   `json:"running"`
	// Interrupted: its lab is up but an earlier start was interrupted
	// before the exercise was set (not running; start builds it again).
	Interrupted bool `json:"interrupted,omitempty"`
	// Solved: the running exercise passes its last check; not running,
	// it was solved before its lab went (its record).
	Solved bool `json:"solved"`
	// SolvedOnce: it was solved at some time, kept after its lab is gone
	// ('exercise stop --forget' forgets it).
	SolvedOnce bool `json:"solved_once"`
	// Checks is how many times it was checked since it started.
	Checks  int        `json:"checks"`
	Started *time.Time `json:"started,omitempty"`
}

// Check is one exercise in 'netlab exercise check --json'.
type Check struct {
	Exercise
	Criteria []Criterion `json:"criteria"`
	// HintsHidden: failed criteria have hints this check did not show
	// (ask with --hints, or 'exercise hint').
	HintsHidden bool  `json:"hints_hidden,omitempty"`
	Millis      int64 `json:"ms"`
}

// Criterion is one criterion of a check: what it probed and saw, and on a
// failure, where to look next.
type Criterion struct {
	Name     string `json:"name"`
	Pass     bool   `json:"pass"`
	Observed string `json:"observed"`
	Hint     string `json:"hint,omitempty"`
}
