package problem_test

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/problem"
	"go.opentelemetry.io/otel/trace"
)

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

// A problem either has both forms or neither: an extension value that JSON
// cannot carry (NaN, an infinity, a malformed json.Number), at the top or
// nested, makes the same generic 500 whichever form the client prefers.
func TestUnencodableExtensionIsGeneric500InBothForms(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), math.Inf(-1), float32(math.Inf(1)),
		map[string]any{"ratio": math.NaN()}, []any{1, math.Inf(-1)}, json.Number("NaN"), make(chan int)} {
		for _, accept := range []string{"application/json", "application/problem+xml"} {
			wr, logs := logBuffer(t, problem.Options{})
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept", accept)
			rec := serve(wr, req, problem.New(409, "conflict").With("ratio", v))
			if rec.Code != 500 || strings.Contains(rec.Body.String(), "ratio") || strings.Contains(rec.Body.String(), "conflict") {
				t.Errorf("%v, Accept %s: %d %s", v, accept, rec.Code, rec.Body)
			}
			if !strings.Contains(logs.String(), "cannot encode") {
				t.Errorf("%v, Accept %s: not logged: %s", v, accept, logs)
			}
		}
	}
	// Finite floats are written in both forms, with the same digits.
	for _, accept := range []string{"application/json", "application/problem+xml"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", accept)
		wr, _ := logBuffer(t, problem.Options{})
		rec := serve(wr, req, problem.New(409, "").With("ratio", 0.1).With("big", 1e21))
		if rec.Code != 409 || !strings.Contains(rec.Body.String(), "0.1") || !strings.Contains(rec.Body.String(), "1e+21") {
			t.Errorf("Accept %s: %d %s", accept, rec.Code, rec.Body)
		}
	}
}
