package problem_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/backstop-go/backstop/problem"
)

// FuzzParse feeds arbitrary bodies to the JSON and XML parsers. Parsing
// never panics, and whatever parses survives a write and a second parse
// unchanged.
func FuzzParse(f *testing.F) {
	f.Add("application/problem+json", []byte(`{"type":"/t","title":"T","status":409,"detail":"d","instance":"/i","x":[1,{"y":null}]}`))
	f.Add("application/problem+xml", []byte(`<problem xmlns="urn:ietf:rfc:7807"><type>/t</type><status>409</status><a><i>1</i></a></problem>`))
	f.Add("application/json", []byte(`{"status":"404","type":7}`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", ctype)
		rec.WriteHeader(400)
		rec.Write(body)
		p, err := problem.Parse(rec.Result())
		if err != nil {
			return
		}
		if p.Status < 100 || p.Status > 999 {
			t.Fatalf("status %d", p.Status)
		}
		p.Header = nil
		b1, err := json.Marshal(p)
		if err != nil {
			return // e.g. an extension named like a standard member in XML
		}
		var q problem.Problem
		if err := json.Unmarshal(b1, &q); err != nil {
			t.Fatalf("re-parse of %s: %v", b1, err)
		}
		b2, err := json.Marshal(&q)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed\n%s\n%s (%v)", b1, b2, err)
		}
	})
}

// FuzzWrite checks that any detail and extension text is written as valid
// JSON that decodes back to the same strings, as encoding/json would.
func FuzzWrite(f *testing.F) {
	f.Add("plain", "name", "value")
	f.Add("<script>&\u2028\x00\xff", "we\"ird", "\\\n")
	f.Fuzz(func(t *testing.T, detail, name, value string) {
		p := problem.New(422, detail)
		if p.SetExtension(name, value) != nil {
			return
		}
		rec := httptest.NewRecorder()
		problem.Write(rec, httptest.NewRequest("POST", "/", nil), p)
		if rec.Code != 422 {
			t.Fatalf("status %d", rec.Code)
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", rec.Body, err)
		}
		want := map[string]any{"type": "about:blank", "title": http.StatusText(http.StatusUnprocessableEntity), "status": float64(http.StatusUnprocessableEntity)}
		if detail != "" {
			want["detail"] = detail
		}
		want[name] = value
		// encoding/json replaces invalid UTF-8 the same way on both sides.
		wantJSON, _ := json.Marshal(want)
		var wantBack map[string]any
		_ = json.Unmarshal(wantJSON, &wantBack)
		if !reflect.DeepEqual(got, wantBack) {
			t.Fatalf("got %v, want %v", got, wantBack)
		}
	})
}

// FuzzWriteXML checks that the XML form of any problem is well formed and
// reads back with Parse: text is escaped, names that XML cannot carry are
// left out, and the standard members survive.
func FuzzWriteXML(f *testing.F) {
	f.Add("plain", "name", "value")
	f.Add("<script>&\u2028\x00\xff]]>", "\u0221x", "\x01\r\n")
	f.Add("d", "größe", "v")
	f.Fuzz(func(t *testing.T, detail, name, value string) {
		p := problem.New(422, detail)
		if p.SetExtension(name, map[string]any{name: []any{value, nil}}) != nil {
			return
		}
		req := httptest.NewRequest("POST", "/", nil)
		req.Header.Set("Accept", problem.ContentTypeXML)
		rec := httptest.NewRecorder()
		problem.Write(rec, req, p)
		if rec.Code != 422 || rec.Header().Get("Content-Type") != problem.ContentTypeXML {
			t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		back, err := problem.Parse(rec.Result())
		if err != nil {
			t.Fatalf("Parse of %q: %v", rec.Body, err)
		}
		if back.Status != http.StatusUnprocessableEntity || back.Title != http.StatusText(http.StatusUnprocessableEntity) || back.Type != problem.BlankType {
			t.Fatalf("parsed %+v from %q", back, rec.Body)
		}
		xmlText := utf8.ValidString(detail) && !strings.ContainsFunc(detail, func(r rune) bool {
			return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF
		})
		if xmlText && back.Detail != detail {
			t.Fatalf("detail %q read back as %q", detail, back.Detail)
		}
	})
}
