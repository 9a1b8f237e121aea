package problem_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/problem"
	"go.opentelemetry.io/otel/trace"
)

// Go 1.22+ encoding/json writes \b and \f as two-character escapes.
func TestMarshalJSONEscapesLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{"\b", "\f", "a\bb\fc", "\x00\x1f\x7f"} {
		got, err := json.Marshal(problem.New(400, s).With("x", s))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"type":"about:blank","title":"Bad Request","status":400,"detail":` + mustJSON(t, s) + `,"x":` + mustJSON(t, s) + `}`
		if string(got) != want {
			t.Errorf("%q:\ngot  %s\nwant %s", s, got, want)
		}
	}
}

// A malformed q (NaN, exponents, a sign, more than three decimals) excludes
// the range instead of ranking it; several Accept lines form one list.
func TestNegotiationStrictQValuesAndAcceptLines(t *testing.T) {
	tests := []struct {
		accept []string
		xml    bool
	}{
		{[]string{"application/json;q=NaN, application/problem+xml;q=0.1"}, true},
		{[]string{"application/json;q=nan, application/*;q=0.5, application/problem+xml;q=0.4"}, true},
		{[]string{"application/problem+xml;q=1e0, application/json;q=0.5"}, false},
		{[]string{"application/problem+xml;q=+1, application/json;q=0.5"}, false},
		{[]string{"application/problem+xml;q=.9, application/json;q=0.5"}, false},
		{[]string{"application/problem+xml;q=1.001, application/json;q=0.5"}, false},
		{[]string{"application/problem+xml;q=0.9, application/json;q=0.899"}, true},
		{[]string{"application/problem+xml;q=1.000, application/json;q=0.5"}, true},
		{[]string{"application/problem+xml;Q=0.9, application/json;q=0.5"}, true},
		{[]string{"application/json;q=0.1", "application/problem+xml"}, true},
		{[]string{"application/problem+xml;q=0.1", "application/json"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.accept, " | "), func(t *testing.T) {
			wr, _ := logBuffer(t, problem.Options{})
			req := httptest.NewRequest("GET", "/", nil)
			for _, a := range tt.accept {
				req.Header.Add("Accept", a)
			}
			rec := serve(wr, req, problem.New(404, ""))
			want := problem.ContentTypeJSON
			if tt.xml {
				want = problem.ContentTypeXML
			}
			if got := rec.Header().Get("Content-Type"); got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
		})
	}
}

// The trace id member is left out of XML when its name is not an XML name,
// rather than writing malformed XML.
func TestWriteXMLTraceMemberNotAnXMLName(t *testing.T) {
	sc, tid := spanContext(t)
	req := httptest.NewRequest("GET", "/", nil)
	req = req.WithContext(trace.ContextWithSpanContext(req.Context(), sc))
	req.Header.Set("Accept", "application/problem+xml")
	wr, _ := logBuffer(t, problem.Options{TraceIDMember: "trace id"})
	rec := serve(wr, req, problem.New(404, ""))
	if strings.Contains(rec.Body.String(), tid) {
		t.Errorf("body %s", rec.Body)
	}
	if _, err := problem.Parse(rec.Result()); err != nil {
		t.Errorf("malformed XML %s: %v", rec.Body, err)
	}
	// A valid name is still written.
	wr, _ = logBuffer(t, problem.Options{TraceIDMember: "trace-id"})
	rec = serve(wr, req, problem.New(404, ""))
	if !strings.Contains(rec.Body.String(), "<trace-id>"+tid+"</trace-id>") {
		t.Errorf("body %s", rec.Body)
	}
}

// Letters that XML 1.0 (fifth edition) allows in names but encoding/xml
// does not would make Parse fail on Write's own output.
func TestWriteXMLRoundTripsNonASCIINames(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "application/problem+xml")
	p := problem.New(400, "d").With("\u0221x", 1).With("größe", 2).With("m", map[string]any{"\u0221y": 3, "ok": 4})
	wr, _ := logBuffer(t, problem.Options{})
	rec := serve(wr, req, p)
	back, err := problem.Parse(rec.Result())
	if err != nil {
		t.Fatalf("Parse of %s: %v", rec.Body, err)
	}
	if back.Extensions["größe"] != "2" || mustJSON(t, back.Extensions["m"]) != `{"ok":"4"}` {
		t.Errorf("extensions %v", back.Extensions)
	}
}

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

type plainWriter struct{ http.ResponseWriter } // hides Flusher and Hijacker

// ResponseController.Flush must report ErrNotSupported through Recover's
// and HandlerFunc's writers when the real writer cannot flush, as the docs
// say, and not a nil error.
func TestWrappedFlushNotSupported(t *testing.T) {
	check := func(t *testing.T, w http.ResponseWriter) {
		if err := http.NewResponseController(w).Flush(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Flush = %v, want ErrNotSupported", err)
		}
		if _, _, err := http.NewResponseController(w).Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Hijack = %v, want ErrNotSupported", err)
		}
	}
	t.Run("Recover", func(t *testing.T) {
		ran := false
		rec := httptest.NewRecorder()
		problem.Recover(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			ran = true
			check(t, w)
			panic("after a failed flush the response has not started")
		})).ServeHTTP(plainWriter{rec}, httptest.NewRequest("GET", "/", nil))
		if !ran || rec.Code != 500 || rec.Header().Get("Content-Type") != problem.ContentTypeJSON {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("HandlerFunc", func(t *testing.T) {
		rec := httptest.NewRecorder()
		problem.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			check(t, w)
			return problem.New(409, "")
		}).ServeHTTP(plainWriter{rec}, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 409 {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
	})
}

// An error returned after the handler started the response must not append
// a problem to it (a second WriteHeader, two documents in one body): the
// response is aborted and the error logged.
func TestHandlerFuncErrorAfterResponseStarted(t *testing.T) {
	for _, start := range []struct {
		name string
		do   func(http.ResponseWriter)
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(200) }},
		{"Write", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"rows":[`)) }},
		{"Flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }},
	} {
		t.Run(start.name, func(t *testing.T) {
			wr, logs := logBuffer(t, problem.Options{})
			h := wr.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
				start.do(w)
				return errors.New("rows: connection reset")
			})
			rec := httptest.NewRecorder()
			func() {
				defer func() {
					if v := recover(); v != http.ErrAbortHandler {
						t.Errorf("recovered %v, want ErrAbortHandler", v)
					}
				}()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			}()
			if rec.Code != 200 || strings.Contains(rec.Body.String(), "about:blank") {
				t.Errorf("problem appended: %d %q", rec.Code, rec.Body)
			}
			if !strings.Contains(logs.String(), "rows: connection reset") {
				t.Errorf("error not logged: %s", logs)
			}
		})
	}
}

// Parse must not take a document with trailing data for a problem.
func TestParseTrailingData(t *testing.T) {
	for _, body := range []string{`{"status":404} x`, `{"status":404}{"status":500}`} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", problem.ContentTypeJSON)
		rec.WriteHeader(404)
		rec.WriteString(body)
		if p, err := problem.Parse(rec.Result()); !errors.Is(err, problem.ErrNotProblem) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrNotProblem", body, p, err)
		}
	}
	var p problem.Problem
	if err := p.UnmarshalJSON([]byte(" {\"status\":404}\n\t")); err != nil || p.Status != 404 {
		t.Errorf("white space around the object: %v %+v", err, p)
	}
}

// The XML Schema types of Appendix B collapse white space in status (a
// positiveInteger) and in type and instance (anyURI): a pretty-printed
// document is valid and must keep them.
func TestParseXMLWhiteSpace(t *testing.T) {
	body := "<problem xmlns=\"urn:ietf:rfc:7807\">\n  <type>\n    https://example.com/probs/out-of-credit\n  </type>\n" +
		"  <status>\n    403\n  </status>\n  <instance> /account/12345/msgs/abc </instance>\n  <detail> kept </detail>\n</problem>\n"
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", problem.ContentTypeXML)
	rec.WriteHeader(400) // differs, so a lost status shows
	rec.WriteString(body)
	p, err := problem.Parse(rec.Result())
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != 403 || p.Type != "https://example.com/probs/out-of-credit" || p.Instance != "/account/12345/msgs/abc" || p.Detail != " kept " {
		t.Errorf("got %+v", p)
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

// An XML document nested deeper than encoding/json allows for JSON is
// refused, so a hostile server cannot make Parse recurse a million times;
// nesting within the limit (<problem>, <x> and 9998 more) still parses.
func TestParseXMLDepthLimit(t *testing.T) {
	nested := func(depth int) string {
		return "<problem><status>409</status><x>" + strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth) + "</x></problem>"
	}
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{100, true}, {9998, true}, {9999, false}, {100000, false}} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", problem.ContentTypeXML)
		rec.WriteHeader(409)
		rec.WriteString(nested(tt.depth))
		p, err := problem.Parse(rec.Result())
		if tt.ok && (err != nil || p.Status != 409) {
			t.Errorf("depth %d: %v, %v", tt.depth, p, err)
		}
		if !tt.ok && !errors.Is(err, problem.ErrNotProblem) {
			t.Errorf("depth %d: Parse = %v, %v; want ErrNotProblem", tt.depth, p, err)
		}
	}
}

// A Response built by hand may have a nil Body; Parse must not panic.
func TestParseNilBody(t *testing.T) {
	resp := &http.Response{StatusCode: 404, Header: http.Header{"Content-Type": {problem.ContentTypeJSON}}}
	if p, err := problem.Parse(resp); !errors.Is(err, problem.ErrNotProblem) {
		t.Errorf("Parse = %v, %v; want ErrNotProblem", p, err)
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
