package idempotency_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
)

// An ErrorHandler owns the problem it is given: it may add members before
// writing it, as a handler that tags responses with a request id does, and
// no other request ever sees them. Run under -race, concurrent requests of
// every kind of failure must not share a problem.
func TestErrorHandlerMayDecorateProblems(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	var once sync.Once
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			once.Do(func() { close(started) })
			<-finish
		}
		w.WriteHeader(http.StatusCreated)
	})
	var leaked sync.Map // problem types that arrived already decorated
	m := newMW(t, newMemory(t, nil), idempotency.Options{
		MaxBodyBytes: 8,
		Logger:       discardLogger(),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p, ok := problem.From(err)
			if !ok {
				t.Errorf("ErrorHandler got %v, not a problem", err)
				return
			}
			if _, seen := p.Extensions["requestId"]; seen {
				leaked.Store(p.Type, true)
			}
			p.With("requestId", r.Header.Get("X-Request-Id"))
			problem.Write(w, r, p)
		},
	})
	h := m.Handler(inner)
	// One request holds a key in flight, and another key has a recorded
	// response, so retries meet both.
	go serve(h, req{target: "/slow", keys: []string{"in-flight-key-0123456789"}})
	<-started
	defer close(finish)
	serve(h, req{keys: []string{"completed-key-0123456789"}})

	cases := []req{
		{keys: []string{}},                       // missing
		{keys: []string{""}},                     // empty
		{keys: []string{testKey, testKey}},       // two lines
		{keys: []string{"a,b"}},                  // a list
		{keys: []string{`"` + testKey + `\n"`}},  // bad escape
		{keys: []string{"short"}},                // too short
		{auth: "-"},                              // unscoped
		{body: "a body longer than eight bytes"}, // too large
		{target: "/slow", keys: []string{"in-flight-key-0123456789"}}, // in flight
		{body: "other", keys: []string{"completed-key-0123456789"}},   // reused
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				q := cases[(g+i)%len(cases)]
				r := q.build()
				id := fmt.Sprintf("req-%d-%d", g, i)
				r.Header.Set("X-Request-Id", id)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code < 400 {
					t.Errorf("case %d: status %d, want a problem", (g+i)%len(cases), rec.Code)
					continue
				}
				if got := strings.Count(rec.Body.String(), `"requestId"`); got != 1 || !strings.Contains(rec.Body.String(), `"`+id+`"`) {
					t.Errorf("case %d: body %s, want exactly this request's id %s", (g+i)%len(cases), rec.Body, id)
				}
			}
		})
	}
	wg.Wait()
	leaked.Range(func(typ, _ any) bool {
		t.Errorf("a problem of type %s reached the ErrorHandler carrying an earlier request's member", typ)
		return true
	})
}
