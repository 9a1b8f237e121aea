// Package routertest is the one table of tests that Backstop's middleware
// passes under every router it supports: ServeMux and chi as they are, echo
// and gin through their adapter modules. Each router provides a [Router]
// that serves the routes below in that router's own style (its handlers,
// its errors, its recover middleware); [Run] sends real HTTP requests
// through it and checks what the client receives and what a retry gets.
//
// It lives in the root module's internal tree because every module that
// runs it has an import path under github.com/backstop-go/backstop (the
// adapters, bench), and the go command allows internal imports by import
// path, not by module: the root module itself runs it on ServeMux, while
// the root go.mod never requires a router.
//
// Routes every Router serves (all POST routes behind the idempotency
// middleware, under the chosen recover middleware, with router errors
// written as problems):
//
//	POST /writes        Location: /orders/<n>, 201 application/json {"id":<n>}, n = hits of the route
//	POST /no-content    204, no body
//	POST /problem       the router's way to return OutOfCredit.New("Your balance is 30.") (403)
//	POST /router-error  the router's own error for a 404 with detail "There is no such cart."
//	                    (echo.NewHTTPError, gin's c.AbortWithError with a public error; a problem elsewhere)
//	POST /fail          the router's way to fail with errors.New("database is down") (500)
//	POST /panic         panic("boom")
//	POST /nothing       writes nothing and reports no error
//	POST /fence         200 application/json {"fence":<f>,"takeover":<b>} read from the
//	                    idempotency.Execution in the router's context
//	GET  /limited       behind the rate limiter; 200 text/plain "ok"
//
// Each handler calls Setup.Hits.Hit with its path first.
package routertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/ratelimit"
)

// OutOfCredit is the problem type POST /problem returns. Its status is a
// 4xx that idempotency keeps (401 and 403 are released by default).
var OutOfCredit = problem.Type{
	URI:    "https://example.com/probs/out-of-credit",
	Title:  "You do not have enough credit.",
	Status: http.StatusPaymentRequired,
}

// Details the routes put in their errors.
const (
	ProblemDetail     = "Your balance is 30."
	RouterErrorDetail = "There is no such cart."
)

// ErrDatabase is the error POST /fail fails with. It must never reach the
// client.
var ErrDatabase = errors.New("database is down")

// Recover names the recover middleware the routes run under.
type Recover int

const (
	// RouterRecover is the router's own: echo's middleware.Recover, gin's
	// gin.Recovery, chi's middleware.Recoverer.
	RouterRecover Recover = iota
	// ProblemRecover is problem.Recover, through the router's adapter.
	ProblemRecover
)

func (r Recover) String() string {
	if r == RouterRecover {
		return "router-recover"
	}
	return "problem-recover"
}

// Setup is what a Router wires into the application it builds.
type Setup struct {
	Idempotency *idempotency.Middleware
	RateLimit   *ratelimit.Middleware
	Recover     Recover
	Hits        *Hits
}

// Router builds the application under test for one router.
type Router struct {
	// Name names the router in test names.
	Name string
	// New returns the application: the package's routes, served the way
	// users of the router write them.
	New func(t testing.TB, s Setup) http.Handler
	// Recovers lists the recover middleware the router has.
	Recovers []Recover
	// RouterRecoverWritesProblem reports whether the 500 of the router's own
	// recover middleware is an RFC 9457 problem (it is not when the
	// middleware writes a bare status, as chi's does).
	RouterRecoverWritesProblem bool
}

// Hits counts the runs of each route's handler. It is safe for concurrent
// use.
type Hits struct {
	mu sync.Mutex
	n  map[string]*atomic.Int64
}

func (h *Hits) counter(path string) *atomic.Int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = make(map[string]*atomic.Int64)
	}
	c := h.n[path]
	if c == nil {
		c = new(atomic.Int64)
		h.n[path] = c
	}
	return c
}

// Hit records a run of the handler of path and returns how many runs there
// were, this one included.
func (h *Hits) Hit(path string) int64 { return h.counter(path).Add(1) }

// Count returns how many times the handler of path ran.
func (h *Hits) Count(path string) int64 { return h.counter(path).Load() }

// FenceBody is what POST /fence writes: the Execution of its claim.
type FenceBody struct {
	Fence    int64 `json:"fence"`
	Takeover bool  `json:"takeover"`
}

// NewSetup returns a Setup with fresh in-memory stores: idempotency scoped
// by the Authorization header, and a limit of one request a minute for all
// clients together.
func NewSetup(t testing.TB, rec Recover) Setup {
	t.Helper()
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	idem := idempotency.New(store, nil, idempotency.Options{})
	limiter, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("minute", 1)}, ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	limit := ratelimit.New(limiter, func(*http.Request) string { return "everyone" }, ratelimit.Options{})
	return Setup{Idempotency: idem, RateLimit: limit, Recover: rec, Hits: new(Hits)}
}

// Handlers returns the POST routes as net/http handlers that return
// errors, keyed by path: how ServeMux and chi serve them (behind
// s.Idempotency.Handler).
func Handlers(s Setup) map[string]problem.HandlerFunc {
	return map[string]problem.HandlerFunc{
		"/writes": func(w http.ResponseWriter, r *http.Request) error {
			n := strconv.FormatInt(s.Hits.Hit("/writes"), 10)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Location", "/orders/"+n)
			w.WriteHeader(http.StatusCreated)
			_, err := w.Write([]byte(`{"id":` + n + `}`))
			return err
		},
		"/no-content": func(w http.ResponseWriter, r *http.Request) error {
			s.Hits.Hit("/no-content")
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
		"/problem": func(w http.ResponseWriter, r *http.Request) error {
			s.Hits.Hit("/problem")
			return OutOfCredit.New(ProblemDetail)
		},
		"/router-error": func(w http.ResponseWriter, r *http.Request) error {
			s.Hits.Hit("/router-error")
			return problem.New(http.StatusNotFound, RouterErrorDetail)
		},
		"/fail": func(w http.ResponseWriter, r *http.Request) error {
			s.Hits.Hit("/fail")
			return ErrDatabase
		},
		"/panic": func(w http.ResponseWriter, r *http.Request) error {
			s.Hits.Hit("/panic")
			panic("boom")
		},
		"/nothing": func(w http.ResponseWriter, r *http.Request) error {
			s.Hits.Hit("/nothing")
			return nil
		},
		"/fence": func(w http.ResponseWriter, r *http.Request) error {
			s.Hits.Hit("/fence")
			exec, _ := idempotency.FromContext(r.Context())
			w.Header().Set("Content-Type", "application/json")
			return json.NewEncoder(w).Encode(FenceBody{Fence: exec.Fence, Takeover: exec.Takeover})
		},
	}
}

// Limited is GET /limited as a net/http handler, to put behind
// s.RateLimit.Handler.
func Limited(s Setup) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Hits.Hit("/limited")
		_, _ = w.Write([]byte("ok"))
	})
}

// Case is one route of the idempotency table.
type Case struct {
	Path string
	// Status is what the client receives first.
	Status int
	// Problem says the body is an RFC 9457 problem with that status, and
	// with Detail when Detail is set.
	Problem bool
	Detail  string
	// Kept says the response is recorded and replayed; otherwise the key
	// is released and a retry runs the handler again.
	Kept bool
}

// Cases are the idempotency cases every router passes.
var Cases = []Case{
	{Path: "/writes", Status: http.StatusCreated, Kept: true},
	{Path: "/no-content", Status: http.StatusNoContent, Kept: true},
	{Path: "/problem", Status: http.StatusPaymentRequired, Problem: true, Detail: ProblemDetail, Kept: true},
	{Path: "/router-error", Status: http.StatusNotFound, Problem: true, Detail: RouterErrorDetail, Kept: true},
	{Path: "/fail", Status: http.StatusInternalServerError, Problem: true},
	{Path: "/panic", Status: http.StatusInternalServerError, Problem: true},
	{Path: "/fence", Status: http.StatusOK, Kept: true},
}

// Run runs the whole table through r: every case of [Cases] under each of
// r's recover middleware, the write-nothing case, rejections by the
// idempotency middleware, the rate limiter, and the router's own 404 and
// 405.
func Run(t *testing.T, r Router) {
	for _, rec := range r.Recovers {
		t.Run(rec.String(), func(t *testing.T) {
			t.Parallel()
			s := NewSetup(t, rec)
			srv := httptest.NewServer(r.New(t, s))
			t.Cleanup(srv.Close)
			for _, c := range Cases {
				t.Run(strings.TrimPrefix(c.Path, "/"), func(t *testing.T) {
					t.Parallel()
					if c.Path == "/panic" && rec == RouterRecover && !r.RouterRecoverWritesProblem {
						c.Problem = false
					}
					RunCase(t, srv.URL, s.Hits, c)
				})
			}
			t.Run("nothing", func(t *testing.T) {
				t.Parallel()
				RunNothing(t, srv.URL, s.Hits)
			})
		})
	}
	for name, run := range map[string]func(*testing.T, string, *Hits){
		"rejections":    RunRejections,
		"ratelimit":     RunRateLimit,
		"router-errors": func(t *testing.T, base string, _ *Hits) { RunRouterErrors(t, base) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := NewSetup(t, r.Recovers[0])
			srv := httptest.NewServer(r.New(t, s))
			t.Cleanup(srv.Close)
			run(t, srv.URL, s.Hits)
		})
	}
}

// Response is a response read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request over a real connection and reads the response.
func Do(t testing.TB, method, url, key string, body []byte) Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+t.Name())
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(idempotency.HeaderKey, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// keyFor returns an idempotency key unique to the test.
func keyFor(t testing.TB) string {
	return fmt.Sprintf("key-%016x", fnv(t.Name()))
}

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// RunCase sends c's request and the same request again with the same key,
// and checks the first response and what the retry gets.
func RunCase(t *testing.T, base string, hits *Hits, c Case) {
	key := keyFor(t)
	body := []byte(`{"item":"tea"}`)
	first := Do(t, http.MethodPost, base+c.Path, key, body)
	CheckFirst(t, c, first)
	if first.Header.Get(idempotency.HeaderReplayed) != "" {
		t.Errorf("first response carries %s", idempotency.HeaderReplayed)
	}
	retry := Do(t, http.MethodPost, base+c.Path, key, body)
	if c.Kept {
		if n := hits.Count(c.Path); n != 1 {
			t.Errorf("handler ran %d times for a first request and its retry; want 1", n)
		}
		CheckReplay(t, first, retry)
		return
	}
	if n := hits.Count(c.Path); n != 2 {
		t.Errorf("handler ran %d times for a first request and its retry; want 2 (a %d releases the key)", n, c.Status)
	}
	if got := retry.Header.Get(idempotency.HeaderReplayed); got != "" {
		t.Errorf("retry after a released key: %s = %q, want none", idempotency.HeaderReplayed, got)
	}
	CheckFirst(t, c, retry)
}

// CheckFirst checks a response that ran the handler.
func CheckFirst(t *testing.T, c Case, r Response) {
	t.Helper()
	if r.Status != c.Status {
		t.Fatalf("status %d, want %d; body %q", r.Status, c.Status, r.Body)
	}
	ct := r.Header.Get("Content-Type")
	if c.Problem {
		if ct != problem.ContentTypeJSON {
			t.Fatalf("Content-Type %q, want %s; body %q", ct, problem.ContentTypeJSON, r.Body)
		}
		var p struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("problem body %q: %v", r.Body, err)
		}
		if p.Status != c.Status {
			t.Errorf("problem status member %d, want %d", p.Status, c.Status)
		}
		if c.Detail != "" && p.Detail != c.Detail {
			t.Errorf("problem detail %q, want %q", p.Detail, c.Detail)
		}
		if bytes.Contains(r.Body, []byte(ErrDatabase.Error())) || bytes.Contains(r.Body, []byte("boom")) {
			t.Errorf("internal error text reached the client: %q", r.Body)
		}
		return
	}
	switch c.Path {
	case "/writes":
		if ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		var v struct{ ID int64 }
		if err := json.Unmarshal(r.Body, &v); err != nil || v.ID < 1 {
			t.Errorf("body %q, want {\"id\":<n>} (%v)", r.Body, err)
		}
		if want := fmt.Sprintf("/orders/%d", v.ID); r.Header.Get("Location") != want {
			t.Errorf("Location %q, want %q", r.Header.Get("Location"), want)
		}
	case "/no-content":
		if len(r.Body) != 0 {
			t.Errorf("204 with body %q", r.Body)
		}
	case "/fence":
		var v FenceBody
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatalf("body %q: %v", r.Body, err)
		}
		if v.Fence <= 0 || v.Takeover {
			t.Errorf("handler saw %+v in its context, want the claim's execution: a positive fence, no takeover", v)
		}
	}
}

// CheckReplay checks that retry is a replay of first: the same status, the
// same body bytes and content headers, marked as replayed.
func CheckReplay(t *testing.T, first, retry Response) {
	t.Helper()
	if got := retry.Header.Get(idempotency.HeaderReplayed); got != "true" {
		t.Errorf("retry: %s = %q, want \"true\" (status %d, body %q)", idempotency.HeaderReplayed, got, retry.Status, retry.Body)
	}
	if retry.Status != first.Status {
		t.Errorf("retry got status %d, the client first got %d", retry.Status, first.Status)
	}
	if !bytes.Equal(retry.Body, first.Body) {
		t.Errorf("retry got body %q, the client first got %q", retry.Body, first.Body)
	}
	for _, h := range []string{"Content-Type", "Location"} {
		if retry.Header.Get(h) != first.Header.Get(h) {
			t.Errorf("retry got %s %q, the client first got %q", h, retry.Header.Get(h), first.Header.Get(h))
		}
	}
}

// RunNothing checks a handler that writes nothing: net/http then sends an
// empty 200 that the idempotency middleware never saw written, so its key
// must be released, never recorded as a 200 that was not sent.
func RunNothing(t *testing.T, base string, hits *Hits) {
	key := keyFor(t)
	first := Do(t, http.MethodPost, base+"/nothing", key, nil)
	if first.Status != http.StatusOK || len(first.Body) != 0 {
		t.Fatalf("first response %d %q, want the empty 200 net/http sends", first.Status, first.Body)
	}
	retry := Do(t, http.MethodPost, base+"/nothing", key, nil)
	n := hits.Count("/nothing")
	if n != 2 {
		t.Errorf("handler ran %d times for a first request and its retry; want 2 (nothing written: the key is released)", n)
	}
	if got := retry.Header.Get(idempotency.HeaderReplayed); got != "" {
		t.Errorf("retry: %s = %q, want none", idempotency.HeaderReplayed, got)
	}
}

// RunRejections checks that answers of the idempotency middleware itself
// reach the client as problems and stop the chain.
func RunRejections(t *testing.T, base string, hits *Hits) {
	r := Do(t, http.MethodPost, base+"/writes", "", nil)
	checkProblem(t, "no key", r, http.StatusBadRequest, idempotency.ErrKeyMissing.URI)

	key := keyFor(t)
	r = Do(t, http.MethodPost, base+"/writes", key, []byte(`{"item":"tea"}`))
	if r.Status != http.StatusCreated {
		t.Fatalf("first request: %d %q", r.Status, r.Body)
	}
	r = Do(t, http.MethodPost, base+"/writes", key, []byte(`{"item":"coffee"}`))
	checkProblem(t, "key reused for another body", r, http.StatusUnprocessableEntity, idempotency.ErrKeyReused.URI)
	if n := hits.Count("/writes"); n != 1 {
		t.Errorf("handler ran %d times; the rejected requests must not run it", n)
	}
}

// RunRateLimit checks the rate limiter under the router: RateLimit headers
// on an admitted request, a 429 problem with Retry-After after it, and the
// handler run once.
func RunRateLimit(t *testing.T, base string, hits *Hits) {
	ok := Do(t, http.MethodGet, base+"/limited", "", nil)
	if ok.Status != http.StatusOK || string(ok.Body) != "ok" {
		t.Fatalf("first request: %d %q, want 200 \"ok\"", ok.Status, ok.Body)
	}
	if ok.Header.Get("RateLimit-Policy") == "" || ok.Header.Get("RateLimit") == "" {
		t.Errorf("admitted request lacks RateLimit headers: %v", ok.Header)
	}
	denied := Do(t, http.MethodGet, base+"/limited", "", nil)
	checkProblem(t, "over the limit", denied, http.StatusTooManyRequests, ratelimit.ErrQuotaExceeded.URI)
	if denied.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if n := hits.Count("/limited"); n != 1 {
		t.Errorf("handler ran %d times; a denied request must not run it", n)
	}
}

// RunRouterErrors checks that the router's own 404 and 405 reach the
// client as problems with their status, the 405 with Allow.
func RunRouterErrors(t *testing.T, base string) {
	r := Do(t, http.MethodGet, base+"/no/such/route", "", nil)
	checkProblem(t, "unknown route", r, http.StatusNotFound, "about:blank")
	r = Do(t, http.MethodDelete, base+"/writes", "", nil)
	checkProblem(t, "method not allowed", r, http.StatusMethodNotAllowed, "about:blank")
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, http.MethodPost) {
		t.Errorf("405 with Allow %q, want POST in it", allow)
	}
}

func checkProblem(t *testing.T, what string, r Response, status int, typ string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %q", what, r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != problem.ContentTypeJSON {
		t.Fatalf("%s: Content-Type %q, want %s; body %q", what, ct, problem.ContentTypeJSON, r.Body)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("%s: problem body %q: %v", what, r.Body, err)
	}
	if p.Type != typ || p.Status != status {
		t.Errorf("%s: problem type %q status %d, want %q %d", what, p.Type, p.Status, typ, status)
	}
}
