package problem_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/problem"
	"go.opentelemetry.io/otel/trace"
)

var outOfCredit = problem.Type{
	URI:    "https://example.com/probs/out-of-credit",
	Title:  "You do not have enough credit.",
	Status: http.StatusForbidden,
}

func TestMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		p    *problem.Problem
		want string
	}{
		{"blank type gets status text", problem.New(404, ""),
			`{"type":"about:blank","title":"Not Found","status":404}`},
		{"explicit about:blank keeps own title", &problem.Problem{Type: "about:blank", Title: "Nope", Status: 404},
			`{"type":"about:blank","title":"Nope","status":404}`},
		{"declared type", outOfCredit.New("Your balance is 30.").With("balance", 30).With("accounts", []string{"/a/1", "/a/2"}),
			`{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","status":403,"detail":"Your balance is 30.","accounts":["/a/1","/a/2"],"balance":30}`},
		{"instance", &problem.Problem{Type: "/t", Status: 409, Instance: "/orders/1"},
			`{"type":"/t","status":409,"instance":"/orders/1"}`},
		{"escaping matches encoding/json", problem.New(400, "a<b> & \"q\" \\ \n\t\x01 \u2028 é"),
			`{"type":"about:blank","title":"Bad Request","status":400,"detail":` + mustJSON(t, "a<b> & \"q\" \\ \n\t\x01 \u2028 é") + `}`},
		// encoding/json writes U+FFFD escaped up to Go 1.26 and raw from Go
		// 1.27; both mean the same, and the escaped form is ASCII-safe.
		{"invalid UTF-8 becomes an escaped U+FFFD", problem.New(400, "a\xffb"),
			`{"type":"about:blank","title":"Bad Request","status":400,"detail":"a\ufffdb"}`},
		{"extension names escaped", problem.New(400, "").With(`we"ird`, true),
			`{"type":"about:blank","title":"Bad Request","status":400,"we\"ird":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("invalid JSON %s", got)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReservedExtensionRejected(t *testing.T) {
	for _, name := range []string{"type", "title", "status", "detail", "instance"} {
		p := problem.New(400, "x")
		var rme *problem.ReservedMemberError
		if err := p.SetExtension(name, 1); !errors.As(err, &rme) || rme.Name != name {
			t.Errorf("SetExtension(%q) = %v, want ReservedMemberError", name, err)
		}
		if _, err := json.Marshal(p.With(name, 1)); !errors.As(err, &rme) {
			t.Errorf("Marshal with extension %q: err = %v, want ReservedMemberError", name, err)
		}
	}
	if err := problem.New(400, "").SetExtension("balance", 1); err != nil {
		t.Errorf("SetExtension(balance) = %v", err)
	}
}

func TestUnmarshalJSONLenient(t *testing.T) {
	tests := []struct {
		name, in string
		want     problem.Problem
		ext      map[string]string // extension name -> its JSON
	}{
		{"missing type is about:blank", `{"status":404}`, problem.Problem{Type: "about:blank", Status: 404}, nil},
		{"wrong types ignored", `{"type":1,"title":["x"],"status":"404","detail":{},"instance":false}`,
			problem.Problem{Type: "about:blank"}, nil},
		{"status not an integer", `{"status":404.5}`, problem.Problem{Type: "about:blank"}, nil},
		{"status out of range", `{"status":42}`, problem.Problem{Type: "about:blank"}, nil},
		{"all members", `{"type":"/t","title":"T","status":409,"detail":"D","instance":"/i"}`,
			problem.Problem{Type: "/t", Title: "T", Status: 409, Detail: "D", Instance: "/i"}, nil},
		{"unknown members kept exactly", `{"type":"/t","big":12345678901234567890,"obj":{"a":[1,"b",null]}}`,
			problem.Problem{Type: "/t"}, map[string]string{"big": `12345678901234567890`, "obj": `{"a":[1,"b",null]}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p problem.Problem
			if err := json.Unmarshal([]byte(tt.in), &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.want.Type || p.Title != tt.want.Title || p.Status != tt.want.Status ||
				p.Detail != tt.want.Detail || p.Instance != tt.want.Instance {
				t.Errorf("got %+v, want %+v", p, tt.want)
			}
			if len(p.Extensions) != len(tt.ext) {
				t.Errorf("extensions %v, want %v", p.Extensions, tt.ext)
			}
			for name, want := range tt.ext {
				if got := mustJSON(t, p.Extensions[name]); got != want {
					t.Errorf("extension %s = %s, want %s", name, got, want)
				}
			}
		})
	}
	for _, bad := range []string{`[]`, `null`, `"x"`, `{`, ``} {
		var p problem.Problem
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("Unmarshal(%q) succeeded", bad)
		}
	}
}

func TestErrorsIsAndCause(t *testing.T) {
	cause := errors.New("db down")
	err := fmt.Errorf("buying: %w", outOfCredit.New("no").WithCause(cause))
	if !errors.Is(err, outOfCredit) {
		t.Error("errors.Is(err, type) = false")
	}
	if errors.Is(err, problem.Type{URI: "https://example.com/other"}) {
		t.Error("errors.Is matched another type")
	}
	if !errors.Is(err, cause) {
		t.Error("cause not reachable")
	}
	p, ok := problem.From(err)
	if !ok || p.Status != 403 {
		t.Fatalf("From = %v, %v", p, ok)
	}
	if got := p.Error(); got != "403 You do not have enough credit.: no" {
		t.Errorf("Error() = %q", got)
	}
	if _, ok := problem.From(cause); ok {
		t.Error("From found a problem in a plain error")
	}
}

// logBuffer returns a Writer logging into the returned buffer.
func logBuffer(t *testing.T, o problem.Options) (*problem.Writer, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	o.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	return problem.NewWriter(o), &buf
}

func serve(wr *problem.Writer, r *http.Request, err error) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	wr.Write(rec, r, err)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return m
}

func TestWriteStatusAndHeaders(t *testing.T) {
	wr, _ := logBuffer(t, problem.Options{})
	p := outOfCredit.New("Your balance is 30.").WithHeader("Retry-After", "60")
	rec := serve(wr, httptest.NewRequest("POST", "/buy", nil), p)
	if rec.Code != 403 {
		t.Errorf("status %d", rec.Code)
	}
	if m := decode(t, rec); m["status"] != float64(403) || m["type"] != outOfCredit.URI || m["detail"] != "Your balance is 30." {
		t.Errorf("body %v", m)
	}
	want := map[string]string{
		"Content-Type":           "application/problem+json",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Retry-After":            "60",
		"Vary":                   "Accept",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestWriteKeepsExistingVaryAndCacheControl(t *testing.T) {
	wr, _ := logBuffer(t, problem.Options{})
	rec := httptest.NewRecorder()
	rec.Header().Set("Vary", "Origin")
	rec.Header().Set("Content-Length", "99")
	wr.Write(rec, httptest.NewRequest("GET", "/", nil), problem.New(404, "").WithHeader("Cache-Control", "max-age=60"))
	if got := rec.Header().Values("Vary"); strings.Join(got, ",") != "Origin,Accept" {
		t.Errorf("Vary = %v", got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "max-age=60" {
		t.Errorf("Cache-Control = %q", got)
	}
	if got := rec.Header().Get("Content-Length"); got != "" {
		t.Errorf("stale Content-Length %q kept", got)
	}
}

func TestWriteNeverLeaksInternalErrors(t *testing.T) {
	secret := "pq: password authentication failed for user admin"
	tests := []struct {
		name string
		err  error
		msg  string
	}{
		{"plain error", errors.New(secret), "not a problem"},
		{"nil error", nil, "not a problem"},
		{"status below 400", problem.New(302, secret), "status outside"},
		{"status above 599", problem.New(600, secret), "status outside"},
		{"reserved extension", problem.New(400, secret).With("status", 1), "cannot encode"},
		{"unencodable extension", problem.New(400, secret).With("ch", make(chan int)), "cannot encode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wr, logs := logBuffer(t, problem.Options{})
			rec := serve(wr, httptest.NewRequest("GET", "/", nil), tt.err)
			if rec.Code != 500 {
				t.Errorf("status %d, want 500", rec.Code)
			}
			if strings.Contains(rec.Body.String(), "password") {
				t.Errorf("body leaks the error: %s", rec.Body)
			}
			if m := decode(t, rec); m["title"] != "Internal Server Error" || m["type"] != "about:blank" || m["status"] != float64(500) || m["detail"] != nil {
				t.Errorf("body %v", m)
			}
			if !strings.Contains(logs.String(), tt.msg) || !strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("log %q does not say %q at ERROR", logs, tt.msg)
			}
		})
	}
}

func TestWrite5xxLogsCause(t *testing.T) {
	wr, logs := logBuffer(t, problem.Options{})
	p := problem.New(503, "Try again in a minute.").WithCause(errors.New("redis: connection refused"))
	rec := serve(wr, httptest.NewRequest("GET", "/", nil), p)
	if rec.Code != 503 || strings.Contains(rec.Body.String(), "redis") {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "redis: connection refused") {
		t.Errorf("cause not logged: %s", logs)
	}
	wr, logs = logBuffer(t, problem.Options{})
	serve(wr, httptest.NewRequest("GET", "/", nil), problem.New(404, "").WithCause(errors.New("no rows")))
	if logs.Len() != 0 {
		t.Errorf("4xx logged: %s", logs)
	}
}

func TestWriteMap(t *testing.T) {
	errNotFound := errors.New("not found")
	wr, logs := logBuffer(t, problem.Options{Map: func(err error) *problem.Problem {
		if errors.Is(err, errNotFound) {
			return problem.New(404, "No such order.")
		}
		return nil
	}})
	if rec := serve(wr, httptest.NewRequest("GET", "/", nil), fmt.Errorf("get: %w", errNotFound)); rec.Code != 404 {
		t.Errorf("mapped status %d", rec.Code)
	}
	if rec := serve(wr, httptest.NewRequest("GET", "/", nil), errors.New("other")); rec.Code != 500 {
		t.Errorf("unmapped status %d", rec.Code)
	}
	if !strings.Contains(logs.String(), "other") {
		t.Errorf("unmapped error not logged: %s", logs)
	}
}

func TestWriteHEADHasNoBody(t *testing.T) {
	wr, _ := logBuffer(t, problem.Options{})
	rec := serve(wr, httptest.NewRequest("HEAD", "/", nil), problem.New(404, ""))
	if rec.Code != 404 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d %q", rec.Code, rec.Body)
	}
}

func spanContext(t *testing.T) (trace.SpanContext, string) {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}), tid.String()
}

func TestWriteTraceID(t *testing.T) {
	sc, tid := spanContext(t)
	req := httptest.NewRequest("GET", "/", nil)
	req = req.WithContext(trace.ContextWithSpanContext(req.Context(), sc))
	tests := []struct {
		name   string
		o      problem.Options
		p      *problem.Problem
		member string
		want   any
	}{
		{"default member", problem.Options{}, problem.New(404, ""), "traceId", tid},
		{"renamed", problem.Options{TraceIDMember: "trace_id"}, problem.New(404, ""), "trace_id", tid},
		{"problem's own member wins", problem.Options{}, problem.New(404, "").With("traceId", "mine"), "traceId", "mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wr, _ := logBuffer(t, tt.o)
			if m := decode(t, serve(wr, req, tt.p)); m[tt.member] != tt.want {
				t.Errorf("%s = %v, want %v (body %v)", tt.member, m[tt.member], tt.want, m)
			}
		})
	}
	wr, _ := logBuffer(t, problem.Options{TraceIDMember: "-"})
	if body := serve(wr, req, problem.New(404, "")).Body.String(); strings.Contains(body, tid) {
		t.Errorf("trace id written although disabled: %s", body)
	}
	wr, _ = logBuffer(t, problem.Options{})
	if body := serve(wr, httptest.NewRequest("GET", "/", nil), problem.New(404, "")).Body.String(); strings.Contains(body, "traceId") {
		t.Errorf("trace id without a span: %s", body)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("NewWriter accepted a reserved trace member name")
			}
		}()
		problem.NewWriter(problem.Options{TraceIDMember: "status"})
	}()
}

func TestNegotiation(t *testing.T) {
	tests := []struct {
		accept string
		xml    bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"text/html", false},
		{"application/problem+json", false},
		{"application/problem+xml", true},
		{"application/xml", true},
		{"APPLICATION/PROBLEM+XML", true},
		{"application/problem+xml, */*;q=0.1", true},
		{"application/json, application/problem+xml", false}, // tie: JSON is canonical
		{"application/json;q=0.5, application/problem+xml", true},
		{"application/problem+xml;q=0.5, application/json", false},
		{"application/xml;q=0.9, application/problem+json;q=0", true},
		{"application/problem+xml;q=0", false},
		{"application/problem+xml;q=abc", false},
		{"application/*;q=0.8, application/problem+xml;q=0.9", true},
		{"application/problem+xml;q=0.1, application/*;q=0.8", false},
		{"text/xml", true},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			wr, _ := logBuffer(t, problem.Options{})
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept", tt.accept)
			rec := serve(wr, req, problem.New(404, ""))
			want := "application/problem+json"
			if tt.xml {
				want = "application/problem+xml"
			}
			if got := rec.Header().Get("Content-Type"); got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if rec.Code != 404 {
				t.Errorf("status %d", rec.Code)
			}
		})
	}
	wr, _ := logBuffer(t, problem.Options{DisableXML: true})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "application/problem+xml")
	rec := serve(wr, req, problem.New(404, ""))
	if got := rec.Header().Get("Content-Type"); got != "application/problem+json" || rec.Header().Get("Vary") != "" {
		t.Errorf("DisableXML: Content-Type %q, Vary %q", got, rec.Header().Get("Vary"))
	}
}

func TestWriteXML(t *testing.T) {
	wr, _ := logBuffer(t, problem.Options{})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "application/problem+xml")
	p := outOfCredit.New("Balance < 50 & more").
		With("balance", 30).
		With("accounts", []string{"/account/12345", "/account/67890"}).
		With("limits", map[string]any{"daily": 100, "monthly": nil}).
		With("bad name", "dropped")
	rec := serve(wr, req, p)
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<problem xmlns="urn:ietf:rfc:7807"><type>https://example.com/probs/out-of-credit</type>` +
		`<title>You do not have enough credit.</title><status>403</status><detail>Balance &lt; 50 &amp; more</detail>` +
		`<accounts><i>/account/12345</i><i>/account/67890</i></accounts><balance>30</balance>` +
		`<limits><daily>100</daily><monthly/></limits></problem>`
	if got := rec.Body.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// And it parses back.
	resp := rec.Result()
	back, err := problem.Parse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if back.Type != p.Type || back.Status != 403 || back.Detail != p.Detail || back.Title != p.Title {
		t.Errorf("parsed %+v", back)
	}
	if got := mustJSON(t, back.Extensions["accounts"]); got != `["/account/12345","/account/67890"]` {
		t.Errorf("accounts = %s", got)
	}
	if got := mustJSON(t, back.Extensions["limits"]); got != `{"daily":"100","monthly":""}` {
		t.Errorf("limits = %s", got)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		code              int
		wantErr           bool
		want              problem.Problem
	}{
		{"problem+json", "application/problem+json; charset=utf-8", `{"type":"/t","status":409,"detail":"d","x":1}`, 409, false, problem.Problem{Type: "/t", Status: 409, Detail: "d"}},
		{"plain json", "application/json", `{"title":"T"}`, 418, false, problem.Problem{Type: "about:blank", Title: "T", Status: 418}},
		{"html", "text/html", `<html>`, 500, true, problem.Problem{}},
		{"no content type", "", `{}`, 500, true, problem.Problem{}},
		{"json array", "application/problem+json", `[1]`, 500, true, problem.Problem{}},
		{"xml not a problem", "application/problem+xml", `<other/>`, 500, true, problem.Problem{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if tt.ctype != "" {
				rec.Header().Set("Content-Type", tt.ctype)
			}
			rec.WriteHeader(tt.code)
			rec.WriteString(tt.body)
			p, err := problem.Parse(rec.Result())
			if tt.wantErr {
				if !errors.Is(err, problem.ErrNotProblem) {
					t.Errorf("err = %v, want ErrNotProblem", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.want.Type || p.Status != tt.want.Status || p.Detail != tt.want.Detail || p.Title != tt.want.Title {
				t.Errorf("got %+v, want %+v", p, tt.want)
			}
		})
	}
}

func TestHandlerFunc(t *testing.T) {
	h := problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Query().Get("fail") != "" {
			return fmt.Errorf("wrapped: %w", problem.New(http.StatusConflict, "Already exists."))
		}
		_, err := w.Write([]byte("ok"))
		return err
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?fail=1", nil))
	if rec.Code != 409 || decode(t, rec)["detail"] != "Already exists." {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || rec.Body.String() != "ok" {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}

	wr, logs := logBuffer(t, problem.Options{})
	rec = httptest.NewRecorder()
	wr.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return errors.New("boom") }).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "boom") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("got %d %s; log %s", rec.Code, rec.Body, logs)
	}
}

func TestRecover(t *testing.T) {
	wr, logs := logBuffer(t, problem.Options{})
	h := wr.Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "secret boom") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("panic value and stack not logged: %s", logs)
	}

	t.Run("ErrAbortHandler passes through", func(t *testing.T) {
		h := wr.Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want ErrAbortHandler", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})
	t.Run("panic after the response started aborts", func(t *testing.T) {
		h := wr.Recover(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(200)
			panic("late")
		}))
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want ErrAbortHandler", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})
	t.Run("Flusher and ResponseController survive", func(t *testing.T) {
		h := wr.Recover(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if _, ok := w.(http.Flusher); !ok {
				t.Error("not a Flusher")
			}
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("ResponseController.Flush: %v", err)
			}
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if !rec.Flushed {
			t.Error("not flushed")
		}
	})
}

func TestRecoverRealServer(t *testing.T) {
	srv := httptest.NewServer(problem.Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		var m map[string]int
		m["x"] = 1 //lint:ignore SA5000 a nil map write is the panic under test
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p, err := problem.Parse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || p.Status != 500 || p.Title != "Internal Server Error" || p.Detail != "" {
		t.Errorf("got %d %+v", resp.StatusCode, p)
	}
}
