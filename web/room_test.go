package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/api"
)

func testRoom() *Room {
	return &Room{Token: "room-t", Exercises: []RoomExercise{{1, "docker-no-outside", "one"}, {2, "docker-published-port", "two"}}}
}

func check(n int, id string, pass ...bool) api.Check {
	c := api.Check{Exercise: api.Exercise{Number: n, ID: id, Solved: true}}
	for i, p := range pass {
		c.Criteria = append(c.Criteria, api.Criterion{Name: fmt.Sprintf("c%d", i), Pass: p, Observed: "seen", Hint: "the answer"})
		c.Solved = c.Solved && p
	}
	return c
}

// TestRoomTake: a report is kept as its checks say; solved stays solved
// (with its first time) when a later report says not yet; hints are never
// kept; every bad report is refused with its reason and changes nothing.
func TestRoomTake(t *testing.T) {
	r := testRoom()
	clock := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	r.now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	require.NoError(t, r.Take(Report{Learner: "alice", Checks: []api.Check{check(1, "docker-no-outside", true, false)}}))
	require.NoError(t, r.Take(Report{Learner: "alice", Checks: []api.Check{check(1, "docker-no-outside", true, true)}}))
	solvedAt := clock
	require.NoError(t, r.Take(Report{Learner: "alice", Checks: []api.Check{check(1, "docker-no-outside", false, true)}}))
	require.NoError(t, r.Take(Report{Learner: "Zoë O'", Checks: []api.Check{check(2, "docker-published-port", true)}}), "")
	v := r.View()
	require.Len(t, v.Learners, 2)
	a := v.Learners[0].Exercises[1]
	assert.Equal(t, "alice", v.Learners[0].Name)
	assert.False(t, a.Solved, "the last report says not yet")
	require.NotNil(t, a.SolvedAt, "solved once")
	assert.Equal(t, solvedAt, *a.SolvedAt)
	assert.Equal(t, 3, a.Reports)
	assert.Equal(t, 1, a.Passed)
	for _, c := range a.Criteria {
		assert.Empty(t, c.Hint, "the room keeps no hint")
	}
	assert.True(t, v.Learners[1].Exercises[2].Solved)

	before, _ := json.Marshal(r.View())
	for _, bad := range []struct {
		rep    Report
		reason string
	}{
		{Report{Learner: "", Checks: []api.Check{check(1, "docker-no-outside", true)}}, `learner "": a name of 1 to 32`},
		{Report{Learner: "<script>", Checks: []api.Check{check(1, "docker-no-outside", true)}}, `learner "<script>"`},
		{Report{Learner: strings.Repeat("a", 33), Checks: []api.Check{check(1, "docker-no-outside", true)}}, "a name of 1 to 32"},
		{Report{Learner: "bob"}, "checks: none given"},
		{Report{Learner: "bob", Checks: []api.Check{check(3, "x", true)}}, "exercise 3: this room's exercises are 1 to 2"},
		{Report{Learner: "bob", Checks: []api.Check{check(1, "k8s-other", true)}}, `exercise 1 is "docker-no-outside" here, not "k8s-other"`},
		{Report{Learner: "bob", Checks: []api.Check{check(1, "docker-no-outside", true), check(1, "docker-no-outside", true)}}, "reported twice"},
		{Report{Learner: "bob", Checks: []api.Check{check(1, "docker-no-outside")}}, "0 criteria"},
		{Report{Learner: "bob", Checks: []api.Check{check(1, "docker-no-outside", make([]bool, MaxCriteria+1)...)}}, "17 criteria"},
		{Report{Learner: "bob", Checks: []api.Check{func() api.Check { c := check(1, "docker-no-outside", false); c.Solved = true; return c }()}}, "solved is true but its criteria say false"},
		// One bad check of two: the good one is not kept either.
		{Report{Learner: "alice", Checks: []api.Check{check(2, "docker-published-port", true), check(9, "x", true)}}, "exercise 9"},
	} {
		err := r.Take(bad.rep)
		if assert.Error(t, err, bad.reason) {
			assert.Contains(t, err.Error(), bad.reason)
		}
	}
	after, _ := json.Marshal(r.View())
	assert.JSONEq(t, string(before), string(after), "bad reports change nothing")

	// A full room takes no new name, and still the names it has.
	full := testRoom()
	for i := 0; i < MaxLearners; i++ {
		require.NoError(t, full.Take(Report{Learner: fmt.Sprintf("l%d", i), Checks: []api.Check{check(1, "docker-no-outside", true)}}))
	}
	err := full.Take(Report{Learner: "late", Checks: []api.Check{check(1, "docker-no-outside", true)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the room is full")
	assert.NoError(t, full.Take(Report{Learner: "l7", Checks: []api.Check{check(2, "docker-published-port", true)}}))
}

// TestRoomHTTP: reports need the room token (and the page's token opens
// nothing else of the room's); reading the room needs the page's token;
// a server without --room takes no report.
func TestRoomHTTP(t *testing.T) {
	srv := &Server{B: &fake{}, Token: "page-t", Room: testRoom()}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	post := func(url, token, body string) (int, string) {
		req, _ := http.NewRequest("POST", url+"/api/room", strings.NewReader(body))
		if token != "" {
			req.Header.Set("X-Netlab-Room-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good, _ := json.Marshal(Report{Learner: "alice", Checks: []api.Check{check(1, "docker-no-outside", true)}})
	for _, bad := range []struct {
		token, body string
		code        int
		reason      string
	}{
		{"", string(good), 403, "needs the room token"},
		{"page-t", string(good), 403, "needs the room token"},
		{"room-t", "not json", 400, "the body must be JSON"},
		{"room-t", `{"learner":"alice","checks":[],"extra":1}`, 400, `unknown field \"extra\"`},
		{"room-t", `{"learner":"alice","checks":[]}`, 400, "none given"},
		{"room-t", `{"learner":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "at most 65536 bytes"},
	} {
		code, body := post(ts.URL, bad.token, bad.body)
		assert.Equal(t, bad.code, code, body)
		assert.Contains(t, body, bad.reason)
	}
	assert.Empty(t, srv.Room.View().Learners, "refused reports keep nothing")
	code, body := post(ts.URL, "room-t", string(good))
	require.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"learner":"alice","reported":1,"solved":1}`, body)

	get := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", ts.URL+"/api/room", nil)
		req.Header.Set("X-Netlab-Token", token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ = get("room-t")
	assert.Equal(t, 403, code, "the room token reads nothing")
	code, body = get("page-t")
	require.Equal(t, 200, code)
	var v RoomView
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.Len(t, v.Learners, 1)
	assert.True(t, v.Learners[0].Exercises[1].Solved)

	bare := httptest.NewServer((&Server{B: &fake{}, Token: "page-t"}).Handler())
	defer bare.Close()
	code, body = post(bare.URL, "room-t", string(good))
	assert.Equal(t, 404, code)
	assert.Contains(t, body, "starts it with --room")
}
