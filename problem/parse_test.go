package problem_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/problem"
)

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

// An XML document is one root element with only comments, processing
// instructions and white space around it (XML 1.0 §2.1): text or a second
// element outside <problem> is not a problem document, as data after the
// object is not in JSON.
func TestParseXMLDataOutsideTheRoot(t *testing.T) {
	const doc = `<problem xmlns="urn:ietf:rfc:7807"><status>404</status></problem>`
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{doc, true},
		{"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n" + doc + "\n<!-- c -->\n<?pi x?>\n", true},
		{"\ufeff<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + doc, true}, // a byte order mark
		{"\ufeff" + doc, true},
		{doc + " x", false},
		{doc + `<problem xmlns="urn:ietf:rfc:7807"><status>500</status></problem>`, false},
		{doc + "<", false},
		{"x " + doc, false},
	} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", problem.ContentTypeXML)
		rec.WriteHeader(404)
		rec.WriteString(tt.body)
		p, err := problem.Parse(rec.Result())
		if tt.ok && (err != nil || p.Status != 404) {
			t.Errorf("Parse(%q) = %+v, %v; want status 404", tt.body, p, err)
		}
		if !tt.ok && !errors.Is(err, problem.ErrNotProblem) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrNotProblem", tt.body, p, err)
		}
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
