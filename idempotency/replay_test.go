package idempotency_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
)

func TestReplayFidelity(t *testing.T) {
	var runs atomic.Int64
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		h := w.Header()
		h.Set("Content-Type", "application/vnd.api+json")
		h.Set("Location", "/orders/42")
		h.Set("ETag", `"v1"`)
		h.Add("Link", "</a>; rel=a")
		h.Add("Link", "</b>; rel=b")
		h.Set("Set-Cookie", "session=secret")
		h.Set("X-Request-Id", "r1")
		h.Set("Cache-Control", "private")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("part1,"))
		_, _ = w.Write([]byte("\x00part2"))
	}))
	first := serve(h, req{body: "b"})
	if first.Code != http.StatusCreated || first.Header().Get(idempotency.HeaderReplayed) != "" {
		t.Fatalf("first = %d %v", first.Code, first.Header())
	}
	for i := 0; i < 2; i++ {
		rep := serve(h, req{body: "b"})
		if rep.Code != http.StatusCreated || rep.Body.String() != "part1,\x00part2" {
			t.Fatalf("replay = %d %q", rep.Code, rep.Body)
		}
		want := http.Header{
			"Content-Type":             {"application/vnd.api+json"},
			"Location":                 {"/orders/42"},
			"Etag":                     {`"v1"`},
			"Link":                     {"</a>; rel=a", "</b>; rel=b"},
			"Cache-Control":            {"private"},
			idempotency.HeaderReplayed: {"true"},
		}
		for k, v := range want {
			if got := rep.Header()[k]; strings.Join(got, "|") != strings.Join(v, "|") {
				t.Errorf("replayed %s = %q, want %q", k, got, v)
			}
		}
		for _, k := range []string{"Set-Cookie", "X-Request-Id"} {
			if v := rep.Header().Get(k); v != "" {
				t.Errorf("replayed %s = %q, want it absent", k, v)
			}
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
}

// A header set under a non-canonical name (h["ETag"], which net/http sends
// as it is) is replayed under that name when its canonical form is
// allowed, and a non-canonical Set-Cookie is still never replayed.
func TestReplayNonCanonicalHeaderName(t *testing.T) {
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["ETag"] = []string{`"v1"`}
		w.Header()["set-cookie"] = []string{"s=1"}
		w.WriteHeader(http.StatusCreated)
	}))
	serve(h, req{})
	rep := serve(h, req{})
	//lint:ignore SA1008 the replay must keep the handler's spelling
	if got := rep.Header()["ETag"]; len(got) != 1 || got[0] != `"v1"` || rep.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("replayed header = %v", rep.Header())
	}
	//lint:ignore SA1008 the handler's spelling is what could leak
	if _, ok := rep.Header()["set-cookie"]; ok {
		t.Fatalf("replayed a cookie: %v", rep.Header())
	}
}

// A stored response with a status net/http refuses (WriteHeader would
// panic) is answered as a store failure: never a panic at request time,
// never a second run.
func TestStoredInvalidStatusAnswersUnavailable(t *testing.T) {
	for _, status := range []int{0, 99, 101, 1000} {
		c := &counter{}
		h := newMW(t, corruptStore{Store: newMemory(t, nil), status: status}, idempotency.Options{Logger: discardLogger()}).Handler(c)
		var rec *httptest.ResponseRecorder
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("status %d: replay panicked: %v", status, v)
				}
			}()
			rec = serve(h, req{})
		}()
		assertProblem(t, rec, idempotency.ErrUnavailable)
		if c.runs.Load() != 0 {
			t.Fatalf("status %d: handler ran", status)
		}
	}
}

func TestNotReplayable(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		reason  string
	}{
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("x"), 64))
			_, _ = w.Write(bytes.Repeat([]byte("y"), 64))
		}, "too_large"},
		{"flushed", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte("b"))
		}, "streamed"},
		{"response controller flush", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("a"))
			_ = http.NewResponseController(w).Flush()
		}, "streamed"},
		{"event stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			_, _ = w.Write([]byte("data: 1\n\n"))
		}, "streamed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runs atomic.Int64
			h := newMW(t, newMemory(t, nil), idempotency.Options{MaxResponseBytes: 100}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs.Add(1)
				tc.handler(w, r)
			}))
			first := serve(h, req{})
			if first.Code != http.StatusOK || first.Body.Len() == 0 {
				t.Fatalf("first = %d %q; want the full response", first.Code, first.Body)
			}
			p := assertProblem(t, serve(h, req{}), idempotency.ErrNotReplayable)
			if p.Extensions["reason"] != tc.reason || runs.Load() != 1 {
				t.Fatalf("reason = %v, runs %d; want %s, 1", p.Extensions["reason"], runs.Load(), tc.reason)
			}
		})
	}
}

func TestHijackNotReplayable(t *testing.T) {
	var runs atomic.Int64
	srv := httptest.NewServer(newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		_ = brw.Flush()
		conn.Close()
	})))
	defer srv.Close()
	do := func() *http.Response {
		resp, _ := postOver(t, srv)
		return resp
	}
	if resp := do(); resp.StatusCode != 200 {
		t.Fatalf("first = %d", resp.StatusCode)
	}
	// The client has the hijacked response as soon as the handler closes the
	// connection, which is before the middleware has recorded the outcome; a
	// retry in that window is correctly told the request is in flight.
	var (
		resp *http.Response
		p    *problem.Problem
		err  error
	)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		resp = do()
		p, err = problem.Parse(resp)
		if err != nil || !errors.Is(p, idempotency.ErrInFlight) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !errors.Is(p, idempotency.ErrNotReplayable) || p.Extensions["reason"] != "hijacked" || runs.Load() != 1 {
		t.Fatalf("retry after hijack = %d %v %v, runs %d", resp.StatusCode, p, err, runs.Load())
	}
}

func TestInformationalNotRecorded(t *testing.T) {
	var runs atomic.Int64
	store := &signalStore{Store: newMemory(t, nil), completes: make(chan error, 1)}
	srv := httptest.NewServer(newMW(t, store, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("made"))
	})))
	defer srv.Close()
	for i := range 2 {
		resp, body := postOver(t, srv)
		if resp.StatusCode != http.StatusCreated || string(body) != "made" || resp.Header.Get("Link") == "" {
			t.Fatalf("response %d = %d %q %v", i, resp.StatusCode, body, resp.Header)
		}
		if replayed := resp.Header.Get(idempotency.HeaderReplayed) == "true"; replayed != (i == 1) {
			t.Fatalf("response %d replayed = %v", i, replayed)
		}
		if i == 0 {
			// The client may see the response before the middleware has
			// recorded it (net/http sends 1xx at once and may flush the
			// rest before the handler chain returns): retry only after.
			if err := <-store.completes; err != nil {
				t.Fatalf("Complete: %v", err)
			}
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("runs = %d", runs.Load())
	}
}

// A handler that writes nothing through the ResponseWriter it is given
// leaves the response unknown to the middleware: net/http sends an
// implicit 200, but a router may render an error of its own once the
// middleware has returned. The key is released, never recorded as a 200
// that may not have been sent: the retry runs again.
func TestHandlerThatWritesNothingIsReleased(t *testing.T) {
	store := newMemory(t, nil)
	var runs atomic.Int64
	h := newMW(t, store, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.Header().Set("Location", "/x")
	}))
	for i := range 2 {
		rec := serve(h, req{})
		if rec.Code != http.StatusOK || rec.Header().Get(idempotency.HeaderReplayed) != "" {
			t.Fatalf("request %d = %d %v; want net/http's implicit 200, not a replay", i, rec.Code, rec.Header())
		}
	}
	if runs.Load() != 2 || store.Len() != 0 {
		t.Fatalf("runs %d, records %d; want the key released after each run", runs.Load(), store.Len())
	}
}

// A router that renders a handler's error on the underlying writer after
// the middleware has returned (echo does so with a returned error): the
// client gets the router's 500, so the key is released and the retry runs,
// never answered with a replayed 200.
func TestErrorWrittenAroundTheMiddlewareIsNotReplayed(t *testing.T) {
	var runs atomic.Int64
	mw := newMW(t, newMemory(t, nil), idempotency.Options{})
	inner := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { runs.Add(1) }) // "returns an error"
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.Handler(inner).ServeHTTP(w, r)
		http.Error(w, "internal error", http.StatusInternalServerError) // rendered afterwards
	})
	for i := range 2 {
		if rec := serve(router, req{}); rec.Code != http.StatusInternalServerError || rec.Header().Get(idempotency.HeaderReplayed) != "" {
			t.Fatalf("request %d = %d %v; want the router's 500", i, rec.Code, rec.Header())
		}
	}
	if runs.Load() != 2 {
		t.Fatalf("handler ran %d times, want 2: the retry must run again", runs.Load())
	}
}

// The replayed header values belong to whoever gets the response: code
// around the middleware that rewrites a replayed header in place must not
// change the record that later replays read.
func TestReplayedHeaderValuesAreFresh(t *testing.T) {
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/orders/1")
		w.WriteHeader(http.StatusCreated)
	}))
	rewrite := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if v := w.Header()["Location"]; len(v) == 1 {
			v[0] = "https://rewritten.example" + v[0]
		}
		if v := w.Header()[idempotency.HeaderReplayed]; len(v) == 1 {
			v[0] = "rewritten"
		}
	})
	serve(rewrite, req{})
	serve(rewrite, req{})
	rec := serve(h, req{})
	if got := rec.Header().Get("Location"); got != "/orders/1" || rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("third response Location %q, %s %q; want the recorded /orders/1 and true", got, idempotency.HeaderReplayed, rec.Header().Get(idempotency.HeaderReplayed))
	}
}

// DefaultReplayHeaders hands out a copy: changing it changes no
// middleware's allow-list.
func TestDefaultReplayHeadersIsACopy(t *testing.T) {
	defaults := idempotency.DefaultReplayHeaders()
	for i := range defaults {
		defaults[i] = "X-Changed"
	}
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/orders/1")
		w.Header().Set("X-Changed", "leaked")
		w.WriteHeader(http.StatusCreated)
	}))
	serve(h, req{})
	rep := serve(h, req{})
	if rep.Header().Get("Location") != "/orders/1" || rep.Header().Get("X-Changed") != "" {
		t.Fatalf("replayed headers %v, want Location and not X-Changed", rep.Header())
	}
	if got := idempotency.DefaultReplayHeaders(); got[0] == "X-Changed" {
		t.Fatalf("DefaultReplayHeaders() = %v after a caller changed its copy", got)
	}
}

// The response that MemoryStore.Get and Claim return for a response the
// middleware recorded is the caller's: deleting from its header, or
// rewriting its values or body in place, changes no later replay.
func TestMemoryStoreRecordHeaderIsTheCallers(t *testing.T) {
	store := newMemory(t, nil)
	h := newMW(t, store, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/orders/42")
		w.Header().Add("Link", "</a>; rel=a")
		w.Header().Add("Link", "</b>; rel=b")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":42}`))
	}))
	serve(h, req{})
	key := recordKeyFor(t, req{}.build())
	ctx := t.Context()
	rec, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: rec.Fingerprint, Lease: time.Minute, Retention: time.Hour})
	if err != nil || res.Outcome != idempotency.Completed {
		t.Fatalf("Claim = %v, %v", res.Outcome, err)
	}
	for _, got := range []idempotency.Response{rec.Response, res.Response} {
		if got.Header.Get("Location") != "/orders/42" || strings.Join(got.Header["Link"], "|") != "</a>; rel=a|</b>; rel=b" {
			t.Fatalf("record header = %v", got.Header)
		}
		got.Header["Link"][0] = "rewritten"
		delete(got.Header, "Location")
		copy(got.Body, "rewritten")
	}
	rep := serve(h, req{})
	if rep.Header().Get("Location") != "/orders/42" || strings.Join(rep.Header()["Link"], "|") != "</a>; rel=a|</b>; rel=b" || rep.Body.String() != `{"id":42}` {
		t.Fatalf("replayed %v %q", rep.Header(), rep.Body.String())
	}
}

// A response completed through MemoryStore.Complete is kept as it was:
// the caller may reuse its header and body afterwards.
func TestMemoryStoreCompleteKeepsACopy(t *testing.T) {
	store := newMemory(t, nil)
	ctx := t.Context()
	key := idempotency.RecordKey{Scope: "s", ID: "k"}
	res, err := store.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	if err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("Claim = %v, %v", res.Outcome, err)
	}
	header, body := http.Header{"Location": {"/orders/7"}}, []byte(`{"id":7}`)
	if err := store.Complete(ctx, key, res.Owner, idempotency.Response{Status: 201, Header: header, Body: body}, time.Hour); err != nil {
		t.Fatal(err)
	}
	header["Location"][0] = "reused"
	header.Set("X-Other", "1")
	copy(body, "reused")
	rec, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Response; got.Header.Get("Location") != "/orders/7" || len(got.Header) != 1 || string(got.Body) != `{"id":7}` {
		t.Fatalf("stored %v %q after the caller reused its header and body", got.Header, got.Body)
	}
}

// A handler suppresses a header net/http would add by setting it to nil
// (here the sniffed Content-Type of an HTML-looking body). The replay
// must suppress it too, from a MemoryStore (its own path) and from any
// other store.
func TestSuppressedHeaderStaysSuppressed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) idempotency.Store
	}{
		{"memory", func(t *testing.T) idempotency.Store { return newMemory(t, nil) }},
		{"other store", func(t *testing.T) idempotency.Store { return &signalStore{Store: newMemory(t, nil)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(newMW(t, tc.store(t), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				w.Header().Set("Location", "/orders/42")
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte("<html><p>not sniffed</p>"))
			})))
			defer srv.Close()
			for i := range 2 {
				resp, body := postOver(t, srv)
				if resp.StatusCode != http.StatusCreated || string(body) != "<html><p>not sniffed</p>" || resp.Header.Get("Location") != "/orders/42" {
					t.Fatalf("response %d = %d %q %v", i, resp.StatusCode, body, resp.Header)
				}
				if ct, ok := resp.Header["Content-Type"]; ok {
					t.Fatalf("response %d has Content-Type %q, which the handler suppressed", i, ct)
				}
				if replayed := resp.Header.Get(idempotency.HeaderReplayed) == "true"; replayed != (i == 1) {
					t.Fatalf("response %d replayed = %v", i, replayed)
				}
			}
		})
	}
}

// Behind a ResponseWriter that cannot flush (http.TimeoutHandler's, which
// buffers the whole response), a flush does nothing, as
// http.ResponseController's does: it neither sends the header with a 200
// before the handler's own status, nor makes a response that was never
// streamed unreplayable. So also with a wrapper in between that has a
// Flush method of its own (problem.Recover's) but cannot flush either.
func TestFlushWithoutFlusherDoesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(http.Handler) http.Handler
	}{
		{"directly", func(h http.Handler) http.Handler { return h }},
		{"behind a wrapper", problem.Recover},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var runs atomic.Int64
			h := http.TimeoutHandler(tc.wrap(newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs.Add(1)
				if err := http.NewResponseController(w).Flush(); !errors.Is(err, http.ErrNotSupported) {
					t.Errorf("Flush = %v, want ErrNotSupported", err)
				}
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte("made"))
			}))), time.Minute, "timed out")
			first := serve(h, req{})
			if first.Code != http.StatusCreated || first.Body.String() != "made" {
				t.Fatalf("first = %d %q, want 201 \"made\"", first.Code, first.Body)
			}
			rep := serve(h, req{})
			if rep.Code != http.StatusCreated || rep.Body.String() != "made" || rep.Header().Get(idempotency.HeaderReplayed) != "true" || runs.Load() != 1 {
				t.Fatalf("retry = %d %q, runs %d; want the replay of 201 \"made\"", rep.Code, rep.Body, runs.Load())
			}
		})
	}
}
