package web

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"netlab/internal/api"
)

// A room: learners on their own machines report their checks to the
// teacher's netlab web ('netlab exercise check --report'), and the
// Exercises tab shows who solved what. Reports are kept in memory, for
// as long as netlab web runs. A learner with the room token can claim
// anything for a name: it is a teacher's overview, not an exam.

// Room limits: a class of thirty is far below them.
const (
	// MaxLearners is the most names a room keeps; past it, a new name is
	// refused (a name already in the room still reports).
	MaxLearners = 300
	// MaxCriteria is the most criteria one exercise's report may hold
	// (the workshop's checks have at most 6).
	MaxCriteria = 16
	// maxText is the longest criterion name or observation kept. With the
	// limits above, a full room holds at most 300 names × 22 exercises × 16
	// criteria × 2 × 240 characters (51 M characters; the workshop's checks,
	// at most 6 criteria of about 200, make a full room of 30 learners
	// under 2 MB).
	maxText = 240
)

// learnerName is what a learner may call themselves: letters, digits,
// spaces and . _ - ' (1 to 32 of them, starting with a letter or digit).
var learnerName = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._'-]{0,31}$`)

// Report is POST /api/room's body: one learner's checks, as
// 'netlab exercise check --json' prints them.
type Report struct {
	Learner string      `json:"learner"`
	Checks  []api.Check `json:"checks"`
}

// RoomExercise is one exercise the room knows: its number, id and title.
type RoomExercise struct {
	Number int    `json:"number"`
	ID     string `json:"id"`
	Title  string `json:"title"`
}

// Attempt is where one learner stands on one exercise.
type Attempt struct {
	// Solved: the last report says solved. SolvedAt: the first report
	// that said so (kept when a later one says not yet).
	Solved   bool       `json:"solved"`
	SolvedAt *time.Time `json:"solved_at,omitempty"`
	// Reports counts the reports of it; Passed and Criteria are the last
	// one's criteria passed, of all.
	Reports  int             `json:"reports"`
	Passed   int             `json:"passed"`
	Criteria []api.Criterion `json:"criteria"`
	At       time.Time       `json:"at"`
	Lab      string          `json:"lab,omitempty"`
}

// Learner is one learner of the room and their exercises, by number.
type Learner struct {
	Name      string           `json:"name"`
	Exercises map[int]*Attempt `json:"exercises"`
	Last      time.Time        `json:"last"`
}

// RoomView is GET /api/room: the exercises, then every learner in name
// order (ignoring case).
type RoomView struct {
	Exercises []RoomExercise `json:"exercises"`
	Learners  []Learner      `json:"learners"`
}

// Room keeps the learners' reports.
type Room struct {
	// Token is what a learner's report must carry, in the
	// X-Netlab-Room-Token header: it lets a report in and nothing else.
	Token string
	// Exercises are the exercises a report may be about.
	Exercises []RoomExercise

	mu       sync.Mutex
	learners map[string]*Learner
	now      func() time.Time
}

// CheckLearner says what is wrong with a learner's name, if anything.
func CheckLearner(name string) error {
	if !learnerName.MatchString(name) {
		return &BadRequest{fmt.Sprintf("learner %q: a name of 1 to 32 letters, digits, spaces, '.', '_', '-' or an apostrophe, starting with a letter or digit", name)}
	}
	return nil
}

// Take validates a report and keeps it; a bad one changes nothing.
func (r *Room) Take(rep Report) error {
	if err := CheckLearner(rep.Learner); err != nil {
		return err
	}
	if len(rep.Checks) == 0 {
		return &BadRequest{"checks: none given: send what 'netlab exercise check --json' prints"}
	}
	known := map[int]RoomExercise{}
	for _, x := range r.Exercises {
		known[x.Number] = x
	}
	seen := map[int]bool{}
	for _, c := range rep.Checks {
		x, ok := known[c.Number]
		switch {
		case !ok:
			return &BadRequest{fmt.Sprintf("exercise %d: this room's exercises are 1 to %d", c.Number, len(r.Exercises))}
		case c.ID != x.ID:
			return &BadRequest{fmt.Sprintf("exercise %d is %q here, not %q: the learner's netlab is another version than the teacher's", c.Number, x.ID, c.ID)}
		case seen[c.Number]:
			return &BadRequest{fmt.Sprintf("exercise %d: reported twice in one report", c.Number)}
		case len(c.Criteria) == 0 || len(c.Criteria) > MaxCriteria:
			return &BadRequest{fmt.Sprintf("exercise %d: %d criteria: a check has 1 to %d", c.Number, len(c.Criteria), MaxCriteria)}
		}
		seen[c.Number] = true
		all := true
		for _, k := range c.Criteria {
			all = all && k.Pass
		}
		if c.Solved != all {
			return &BadRequest{fmt.Sprintf("exercise %d: solved is %v but its criteria say %v", c.Number, c.Solved, all)}
		}
	}
	now := time.Now()
	if r.now != nil {
		now = r.now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.learners == nil {
		r.learners = map[string]*Learner{}
	}
	l := r.learners[rep.Learner]
	if l == nil {
		if len(r.learners) >= MaxLearners {
			return &BadRequest{fmt.Sprintf("the room is full (%d names): a name already in it may still report", MaxLearners)}
		}
		l = &Learner{Name: rep.Learner, Exercises: map[int]*Attempt{}}
		r.learners[rep.Learner] = l
	}
	l.Last = now
	for _, c := range rep.Checks {
		a := l.Exercises[c.Number]
		if a == nil {
			a = &Attempt{}
			l.Exercises[c.Number] = a
		}
		a.Reports++
		a.Solved, a.At, a.Lab = c.Solved, now, clip(c.Lab)
		if c.Solved && a.SolvedAt == nil {
			t := now
			a.SolvedAt = &t
		}
		a.Passed, a.Criteria = 0, nil
		for _, k := range c.Criteria {
			if k.Pass {
				a.Passed++
			}
			// What the teacher sees: the criterion and what was seen,
			// never a hint.
			a.Criteria = append(a.Criteria, api.Criterion{Name: clip(k.Name), Pass: k.Pass, Observed: clip(k.Observed)})
		}
	}
	return nil
}

func clip(s string) string {
	r := []rune(s)
	if len(r) > maxText {
		return string(r[:maxText-1]) + "…"
	}
	return s
}

// View is the room now: a copy, safe to encode while reports arrive.
func (r *Room) View() RoomView {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := RoomView{Exercises: append([]RoomExercise{}, r.Exercises...), Learners: []Learner{}}
	for _, l := range r.learners {
		c := Learner{Name: l.Name, Last: l.Last, Exercises: map[int]*Attempt{}}
		for n, a := range l.Exercises {
			cp := *a
			cp.Criteria = append([]api.Criterion{}, a.Criteria...)
			c.Exercises[n] = &cp
		}
		v.Learners = append(v.Learners, c)
	}
	sort.Slice(v.Learners, func(i, j int) bool {
		a, b := strings.ToLower(v.Learners[i].Name), strings.ToLower(v.Learners[j].Name)
		if a != b {
			return a < b
		}
		return v.Learners[i].Name < v.Learners[j].Name
	})
	return v
}

// report is POST /api/room: a learner's checks, with the room token.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	if s.Room == nil {
		fail(w, http.StatusNotFound, "this netlab web keeps no room: the teacher starts it with --room")
		return
	}
	got := r.Header.Get("X-Netlab-Room-Token")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.Room.Token)) != 1 || s.Room.Token == "" {
		fail(w, http.StatusForbidden, "a report needs the room token the teacher's netlab web printed (--room-token)")
		return
	}
	var rep Report
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a report holds at most %d bytes", MaxBody))
			return
		}
		fail(w, http.StatusBadRequest, `the body must be JSON: {"learner": NAME, "checks": [what 'netlab exercise check --json' prints]}: `+err.Error())
		return
	}
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a report holds at most %d bytes", MaxBody))
		return
	}
	if err := s.Room.Take(rep); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	solved := 0
	for _, c := range rep.Checks {
		if c.Solved {
			solved++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"learner": rep.Learner, "reported": len(rep.Checks), "solved": solved})
}
