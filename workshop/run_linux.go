package workshop

import (
	"encoding/json"
	"errors"
	"os"
	"time"

	"netlab/internal/api"
	"netlab/internal/inventory"
	"netlab/internal/state"
)

// progressFile is where an exercise's progress lives: beside its lab's
// state, so that 'netlab down' of the lab ends it.
const progressFile = "exercise.json"

// Progress is what netlab keeps of an exercise while its lab is up.
type Progress struct {
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
	Checks  int       `json:"checks"`
	Solved  bool      `json:"solved"`
	// Failed counts the checks that found it not solved yet.
	Failed int `json:"failed,omitempty"`
	// HintsAfter is the teacher's choice: check shows hints by itself
	// once this many checks failed (0: only when asked, with --hints or
	// 'exercise hint').
	HintsAfter int `json:"hints_after,omitempty"`
}

// Record is what netlab keeps of an exercise after its lab is gone: that
// it was solved, when, and after how many checks. 'exercise stop --forget'
// removes it.
type Record struct {
	ID       string    `json:"id"`
	Solved   bool      `json:"solved"`
	SolvedAt time.Time `json:"solved_at,omitzero"`
	Checks   int       `json:"checks"`
}

// LoadRecord reads an exercise's record; false when there is none.
func LoadRecord(x Exercise) (Record, bool) {
	data, err := state.LoadRecord(x.Lab())
	if err != nil {
		return Record{}, false
	}
	var r Record
	if json.Unmarshal(data, &r) != nil || r.ID != x.ID {
		return Record{}, false
	}
	return r, true
}

func saveRecord(x Exercise, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return state.SaveRecord(x.Lab(), append(data, '\n'))
}

// Forget removes an exercise's record.
func Forget(x Exercise) error { return state.RemoveRecord(x.Lab()) }

// LoadProgress reads an exercise's progress; false when it is not running.
func LoadProgress(x Exercise) (Progress, bool) {
	data, err := state.LoadFile(x.Lab(), progressFile)
	if err != nil {
		return Progress{}, false
	}
	var p Progress
	if json.Unmarshal(data, &p) != nil || p.ID != x.ID {
		return Progress{}, false
	}
	return p, true
}

// SaveProgress writes an exercise's progress.
func SaveProgress(x Exercise, p Progress) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return state.SaveFile(x.Lab(), progressFile, append(data, '\n'))
}

// Info describes an exercise for list --json.
func Info(x Exercise) api.Exercise {
	i := api.Exercise{Version: api.Version, ID: x.ID, Number: x.N, Title: x.Title, Model: string(x.Model), Difficulty: x.Difficulty, Lab: x.Lab()}
	r, _ := LoadRecord(x)
	i.SolvedOnce = r.Solved
	if p, ok := LoadProgress(x); ok {
		i.Running, i.Solved, i.Checks = true, p.Solved, p.Checks
		started := p.Started
		i.Started = &started
	} else {
		i.Interrupted = HalfStarted(x)
		i.Solved, i.Checks = r.Solved, r.Checks
	}
	return i
}

// HalfStarted reports whether exercise x's lab is up with no progress:
// a start interrupted between building the lab and setting the exercise
// (its break may be half done). It is not running; start builds it again.
func HalfStarted(x Exercise) bool {
	_, ok := LoadProgress(x)
	return !ok && inventory.Running(x.Lab())
}

// ErrNotRunning means the exercise's lab is not up.
var ErrNotRunning = errors.New("not running")

// Check runs every criterion of a running exercise, one after the other
// (their packets would cross each other's captures and counters), and
// records the result in its progress (and, solved, in its record). Hints
// come with the result when hints is set, or once as many checks failed
// as the teacher chose at start (HintsAfter).
func Check(x Exercise, hints bool) (api.Check, error) {
	p, ok := LoadProgress(x)
	if !ok {
		return api.Check{}, ErrNotRunning
	}
	s, err := state.Load(x.Lab())
	if err != nil {
		return api.Check{}, err
	}
	start := time.Now()
	e := &Env{S: s}
	show := hints || (p.HintsAfter > 0 && p.Failed >= p.HintsAfter)
	res := make([]api.Criterion, len(x.Criteria))
	hidden := false
	for i, c := range x.Criteria {
		o := c.Check(e)
		res[i] = api.Criterion{Name: c.Name, Pass: o.Pass, Observed: o.Observed}
		if !o.Pass && show {
			res[i].Hint = o.Hint
		}
		hidden = hidden || (!o.Pass && !show && o.Hint != "")
	}
	solved := true
	for _, r := range res {
		solved = solved && r.Pass
	}
	p.Checks++
	p.Solved = solved
	if !solved {
		p.Failed++
	}
	if err := SaveProgress(x, p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return api.Check{}, err
	}
	if solved {
		r, _ := LoadRecord(x)
		if !r.Solved {
			r = Record{ID: x.ID, Solved: true, SolvedAt: time.Now().UTC().Truncate(time.Second), Checks: p.Checks}
			if err := saveRecord(x, r); err != nil {
				return api.Check{}, err
			}
		}
	}
	c := api.Check{Exercise: Info(x), Criteria: res, HintsHidden: hidden, Millis: time.Since(start).Milliseconds()}
	return c, nil
}
