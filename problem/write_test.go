package problem_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/internal/headertest"
	"github.com/backstop-go/backstop/problem"
	"go.opentelemetry.io/otel/trace"
)

// A typed nil *Problem returned as an error must not panic the request.
func TestWriteTypedNilProblem(t *testing.T) {
	var nilProblem *problem.Problem
	wr, logs := logBuffer(t, problem.Options{})
	rec := serve(wr, httptest.NewRequest("GET", "/", nil), nilProblem)
	if rec.Code != 500 || !strings.Contains(logs.String(), "not a problem") {
		t.Errorf("got %d %s; log %s", rec.Code, rec.Body, logs)
	}
	rec = httptest.NewRecorder()
	problem.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nilProblem }).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 {
		t.Errorf("HandlerFunc: %d", rec.Code)
	}
	if errors.Is(nilProblem, problem.Type{URI: "x"}) || nilProblem.Unwrap() != nil || nilProblem.Error() != "<nil>" {
		t.Error("nil *Problem methods")
	}
}

// A Vary in the problem's Header must not drop what middleware already
// varies on: a cache could serve the response to the wrong origin.
func TestWriteMergesVary(t *testing.T) {
	wr, _ := logBuffer(t, problem.Options{})
	rec := httptest.NewRecorder()
	rec.Header().Set("Vary", "Origin")
	p := problem.New(406, "").WithHeader("Vary", "Accept-Language").WithHeader("Vary", "origin")
	wr.Write(rec, httptest.NewRequest("GET", "/", nil), p)
	if got := strings.Join(rec.Header().Values("Vary"), ","); got != "Origin,Accept-Language,Accept" {
		t.Errorf("Vary = %q", got)
	}
	if got := p.Header.Values("Vary"); len(got) != 2 {
		t.Errorf("problem's own Header changed: %q", got)
	}
	rec = httptest.NewRecorder() // nothing set before: the problem's Vary as it is
	wr.Write(rec, httptest.NewRequest("GET", "/", nil), problem.New(406, "").WithHeader("Vary", "Accept-Language"))
	if got := strings.Join(rec.Header().Values("Vary"), ","); got != "Accept-Language,Accept" {
		t.Errorf("Vary = %q", got)
	}
}

// A Problem declared once may be written by many requests at once (the
// Problem doc promises it): Write must not change it, in either form, with
// or without a trace id, and headers added to one response afterwards must
// not reach the problem or the other responses. Run with -race.
func TestWriteSharedProblemConcurrently(t *testing.T) {
	shared := outOfCredit.New("Your balance is 30.").
		With("balance", 30).
		With("accounts", []string{"/account/1", "/account/2"}).
		WithHeader("Vary", "Accept-Language")
	shared.Header["Retry-After"] = append(make([]string, 0, 4), "60") // room to append into
	want := mustJSON(t, shared)
	sc, tid := spanContext(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			req := httptest.NewRequest("GET", "/", nil)
			if i%2 == 0 {
				req.Header.Set("Accept", problem.ContentTypeXML)
			}
			if i%4 < 2 {
				req = req.WithContext(trace.ContextWithSpanContext(req.Context(), sc))
			}
			for range 50 {
				rec := httptest.NewRecorder()
				rec.Header().Set("Vary", "Origin")
				problem.Write(rec, req, shared)
				rec.Header().Add("Retry-After", "late")
				rec.Header().Add("Vary", "Late")
				if rec.Code != 403 || (i%4 < 2) != strings.Contains(rec.Body.String(), tid) {
					t.Errorf("got %d %s", rec.Code, rec.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := mustJSON(t, shared); got != want {
		t.Errorf("problem changed:\n got %s\nwant %s", got, want)
	}
	if got := shared.Header.Values("Retry-After"); len(got) != 1 {
		t.Errorf("problem's Retry-After = %q", got)
	}
	if got := shared.Header.Values("Vary"); len(got) != 1 {
		t.Errorf("problem's Vary = %q", got)
	}
}

// The zero Writer is the default one: it negotiates XML and adds the trace
// id exactly as NewWriter(Options{}) and the package-level Write do.
func TestZeroWriterIsTheDefault(t *testing.T) {
	sc, traceHex := spanContext(t)
	for _, accept := range []string{"application/json", "application/problem+xml"} {
		req := httptest.NewRequest("GET", "/", nil).WithContext(trace.ContextWithSpanContext(t.Context(), sc))
		req.Header.Set("Accept", accept)
		var zero problem.Writer
		got := serve(&zero, req, problem.New(409, "conflict"))
		want := serve(problem.NewWriter(problem.Options{}), req, problem.New(409, "conflict"))
		pkg := httptest.NewRecorder()
		problem.Write(pkg, req, problem.New(409, "conflict"))
		for _, rec := range []*httptest.ResponseRecorder{got, pkg} {
			if rec.Code != want.Code || rec.Body.String() != want.Body.String() ||
				!reflect.DeepEqual(rec.Header(), want.Header()) {
				t.Errorf("Accept %s: wrote %d %v %s, want %d %v %s", accept, rec.Code, rec.Header(), rec.Body, want.Code, want.Header(), want.Body)
			}
		}
		if !strings.Contains(want.Body.String(), traceHex) {
			t.Errorf("Accept %s: no trace id in %s", accept, want.Body)
		}
	}
}

// Middleware that rewrites a problem response's header values in place (an
// http.Header is a map of slices its holder owns) changes that response
// only, never a later or concurrent one.
func TestWriteHeaderValuesAreNotShared(t *testing.T) {
	headertest.RewriteConcurrently(func() http.Header {
		rec := httptest.NewRecorder()
		problem.Write(rec, httptest.NewRequest("GET", "/", nil), problem.New(http.StatusNotFound, "gone"))
		return rec.Header()
	})
	rec := httptest.NewRecorder()
	problem.Write(rec, httptest.NewRequest("GET", "/", nil), problem.New(http.StatusNotFound, "gone"))
	for k, want := range map[string]string{"Content-Type": problem.ContentTypeJSON, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Vary": "Accept"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s: %q after other responses' values were rewritten, want %q", k, got, want)
		}
	}
}

// A problem's own headers reach each response as values of that response:
// middleware that rewrites them in place changes neither the problem nor
// another response written from it, as the values Write adds itself.
func TestWriteProblemHeaderValuesAreNotShared(t *testing.T) {
	p := problem.New(http.StatusTooManyRequests, "slow down").
		WithHeader("Retry-After", "30").WithHeader("Vary", "Accept")
	write := func() http.Header {
		rec := httptest.NewRecorder()
		problem.Write(rec, httptest.NewRequest("GET", "/", nil), p)
		return rec.Header()
	}
	headertest.RewriteConcurrently(write)
	if got := p.Header.Get("Retry-After"); got != "30" {
		t.Errorf("problem's Retry-After rewritten to %q, want 30", got)
	}
	h := write()
	for k, want := range map[string]string{"Retry-After": "30", "Vary": "Accept"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q after other responses' values were rewritten, want %q", k, got, want)
		}
	}
}
