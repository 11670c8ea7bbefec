package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"netlab/internal/api"
	"netlab/internal/state"
)

//go:embed static
var static embed.FS

// Lab is a running lab as the page shows it: what status --json prints of
// it, and its state (for the picture and the counters).
type Lab struct {
	Status api.Status
	State  *state.State
}

// TraceRequest is POST /api/trace's body.
type TraceRequest struct {
	Lab  string `json:"lab"`
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	Port int    `json:"port"`
}

// BadRequest is an error of the request (a 400, with its reason), not of
// the server.
type BadRequest struct{ Reason string }

func (e *BadRequest) Error() string { return e.Reason }

// Backend is what the server asks netlab for: the same code as the verbs.
type Backend interface {
	// Labs are the labs that are up, in name order.
	Labs() []Lab
	// States are the running labs' states, read cheaply: what the
	// counters read, every second.
	States() []*state.State
	// Trace is what 'netlab trace --json' prints.
	Trace(ctx context.Context, r TraceRequest) (any, error)
	// Compare is what 'netlab compare --json --quick' prints, for the
	// running labs.
	Compare(ctx context.Context) (any, error)
	// Exercises are the running exercises, each with its criteria as
	// 'netlab exercise check --json' reports them.
	Exercises(ctx context.Context) (any, error)
}

// Server is netlab web's HTTP server.
type Server struct {
	B Backend
	// Token is what requests that send packets (trace, compare, the
	// exercises' checks) must carry, in the X-Netlab-Token header or the
	// token query parameter.
	Token string
	// Period is how often the counters are read (a second).
	Period time.Duration
	// Hosts are the names (besides IP addresses and localhost) a request's
	// Host header may give: --allow-host.
	Hosts []string
	// Room, when set (--room), takes learners' reports of their checks.
	Room *Room

	hub hub
	// probes serialises what sends packets: one trace or compare at a
	// time (a buffered channel of one, so a waiter can give up).
	probes     chan struct{}
	probesOnce sync.Once
	// streams counts the event streams open; waiting, the requests
	// waiting for their turn to probe.
	streams, waiting atomic.Int32
}

// NewToken is a fresh random token, as Jupyter prints one.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Handler is the page, its files and the API.
func (s *Server) Handler() http.Handler {
	if s.Period == 0 {
		s.Period = time.Second
	}
	s.hub.read = s.snapshot
	s.hub.period = s.Period
	mux := http.NewServeMux()
	files, _ := fs.Sub(static, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(files))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		data, _ := static.ReadFile("static/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
		_, _ = w.Write(data)
	})
	mux.HandleFunc("GET /api/labs", func(w http.ResponseWriter, r *http.Request) {
		docs := []api.Status{}
		for _, l := range s.B.Labs() {
			docs = append(docs, l.Status)
		}
		writeJSON(w, http.StatusOK, docs)
	})
	mux.HandleFunc("GET /api/graph", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"elements": Graph(states(s.B.Labs()))})
	})
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("POST /api/trace", s.guard(func(w http.ResponseWriter, r *http.Request) {
		var req TraceRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, "the body must be JSON: {\"lab\", \"src\", \"dst\", \"port\"}: "+err.Error())
			return
		}
		// Read to the end: then the server watches the connection, and a
		// client that goes away cancels the request's context.
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case req.Src == "" || req.Dst == "":
			fail(w, http.StatusBadRequest, "src and dst are required: a workload, node or outside (src) and an address or name (dst)")
			return
		case req.Port < 0 || req.Port > 65535:
			fail(w, http.StatusBadRequest, fmt.Sprintf("port %d: from 1 to 65535 (0: the destination's own server, or ICMP)", req.Port))
			return
		}
		s.run(w, r, func(ctx context.Context) (any, error) { return s.B.Trace(ctx, req) })
	}))
	mux.HandleFunc("GET /api/compare", s.guard(func(w http.ResponseWriter, r *http.Request) {
		s.run(w, r, s.B.Compare)
	}))
	mux.HandleFunc("GET /api/exercises", s.guard(func(w http.ResponseWriter, r *http.Request) {
		s.run(w, r, s.B.Exercises)
	}))
	mux.HandleFunc("POST /api/room", s.report)
	mux.HandleFunc("GET /api/room", s.guard(func(w http.ResponseWriter, r *http.Request) {
		if s.Room == nil {
			writeJSON(w, http.StatusOK, RoomView{Exercises: []RoomExercise{}, Learners: []Learner{}})
			return
		}
		writeJSON(w, http.StatusOK, s.Room.View())
	}))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := apiMethods[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s, not %s", r.URL.Path, m, r.Method))
			return
		}
		fail(w, http.StatusNotFound, "no such API: GET /api/labs, /api/graph, /api/events, /api/compare, /api/exercises, /api/room; POST /api/trace, /api/room")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A Host this server is not known by is a page of another site
		// whose name was pointed at this address (DNS rebinding): it
		// reads nothing.
		if !HostAllowed(r.Host, s.Hosts) {
			fail(w, http.StatusMisdirectedRequest, fmt.Sprintf("Host %q is not a name of this server: open it by its address, or start netlab web with --allow-host NAME", r.Host))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		mux.ServeHTTP(w, r)
	})
}

// apiMethods is each API's method, for a 405 that says which.
var apiMethods = map[string]string{"/api/labs": "GET", "/api/graph": "GET", "/api/events": "GET",
	"/api/compare": "GET", "/api/exercises": "GET", "/api/trace": "POST", "/api/room": "GET, POST"}

func states(labs []Lab) []*state.State {
	var out []*state.State
	for _, l := range labs {
		if l.State != nil {
			out = append(out, l.State)
		}
	}
	return out
}

// guard lets through only requests that carry the token.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Netlab-Token")
		if got == "" {
			got = r.URL.Query().Get("token")
		}
		if s.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) != 1 {
			fail(w, http.StatusForbidden, "this sends packets: it needs the token netlab web printed when it started (X-Netlab-Token header, or ?token=)")
			return
		}
		if !sameOrigin(r) {
			fail(w, http.StatusForbidden, fmt.Sprintf("a page from %s may not send packets here: only netlab web's own page may", r.Header.Get("Origin")))
			return
		}
		h(w, r)
	}
}

// run runs one probe at a time (trace, compare, checks send real packets,
// and two at once would see each other's), within the request's life.
// A request whose client goes away while it waits gives up its turn.
func (s *Server) run(w http.ResponseWriter, r *http.Request, f func(context.Context) (any, error)) {
	s.probesOnce.Do(func() { s.probes = make(chan struct{}, 1) })
	s.waiting.Add(1)
	select {
	case s.probes <- struct{}{}:
		s.waiting.Add(-1)
	case <-r.Context().Done():
		s.waiting.Add(-1)
		return // gone: nobody to answer
	}
	defer func() { <-s.probes }()
	if r.Context().Err() != nil {
		return
	}
	v, err := f(r.Context())
	var bad *BadRequest
	switch {
	case errors.As(err, &bad):
		fail(w, http.StatusBadRequest, bad.Reason)
	case err != nil:
		fail(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	// A client that does not read its answer is let go.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(WriteTimeout))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func fail(w http.ResponseWriter, code int, reason string) {
	writeJSON(w, code, map[string]string{"error": reason})
}

// rescan is how often the labs' namespaces are looked for again (a
// pod's namespace appears within it; a namespace that went is skipped at
// once).
const rescan = 5 * time.Second

// snapshot reads every running lab's links now.
func (s *Server) snapshot(c *counters, now time.Time) Event {
	if c.ts == nil || now.Sub(c.scanned) >= rescan {
		c.ts, c.scanned = targets(s.B.States()), now
	}
	return Event{Time: now.UTC(), Links: c.read(c.ts, now)}
}

// events streams one snapshot a second, as server-sent events: each
// "data:" line is an Event.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		fail(w, http.StatusInternalServerError, "streaming is not supported here")
		return
	}
	if s.streams.Add(1) > MaxStreams {
		s.streams.Add(-1)
		w.Header().Set("Retry-After", "5")
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("%d pages are watching already: close one", MaxStreams))
		return
	}
	defer s.streams.Add(-1)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "retry: 2000\n\n")
	fl.Flush()
	ch := s.hub.subscribe()
	defer s.hub.unsubscribe(ch)
	for {
		select {
		case <-r.Context().Done():
			return
		case data := <-ch:
			// Each event has WriteTimeout to reach the client: one that
			// stops reading is let go.
			_ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
			if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// hub reads the counters once a period while anyone listens, and hands
// each snapshot to every listener (a slow one misses snapshots rather than
// holding the others back).
type hub struct {
	read   func(*counters, time.Time) Event
	period time.Duration

	mu   sync.Mutex
	subs map[chan []byte]bool
	stop chan struct{}
}

func (h *hub) subscribe() chan []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[chan []byte]bool{}
	}
	ch := make(chan []byte, 1)
	h.subs[ch] = true
	if h.stop == nil {
		h.stop = make(chan struct{})
		go h.loop(h.stop)
	}
	return ch
}

func (h *hub) unsubscribe(ch chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ch)
	if len(h.subs) == 0 && h.stop != nil {
		close(h.stop)
		h.stop = nil
	}
}

func (h *hub) loop(stop chan struct{}) {
	var c counters
	t := time.NewTicker(h.period)
	defer t.Stop()
	for {
		ev := h.read(&c, time.Now())
		data, _ := json.Marshal(ev)
		h.mu.Lock()
		for ch := range h.subs {
			select {
			case ch <- data:
			default:
			}
		}
		h.mu.Unlock()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// Loopback reports whether a listen address only takes this machine's
// connections.
func Loopback(addr string) bool {
	host := addr
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		host = addr[:i]
	}
	host = strings.Trim(host, "[]")
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
