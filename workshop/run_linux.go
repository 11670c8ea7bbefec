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
}

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
	if p, ok := LoadProgress(x); ok {
		i.Running, i.Solved, i.Checks = true, p.Solved, p.Checks
		started := p.Started
		i.Started = &started
	} else {
		i.Interrupted = HalfStarted(x)
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
// records the result in its progress.
func Check(x Exercise) (api.Check, error) {
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
	res := make([]api.Criterion, len(x.Criteria))
	for i, c := range x.Criteria {
		o := c.Check(e)
		res[i] = api.Criterion{Name: c.Name, Pass: o.Pass, Observed: o.Observed}
		if !o.Pass {
			res[i].Hint = o.Hint
		}
	}
	solved := true
	for _, r := range res {
		solved = solved && r.Pass
	}
	p.Checks++
	p.Solved = solved
	if err := SaveProgress(x, p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return api.Check{}, err
	}
	c := api.Check{Exercise: Info(x), Criteria: res, Millis: time.Since(start).Milliseconds()}
	return c, nil
}
