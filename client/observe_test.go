package client_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/backstop-go/backstop/client"
)

// recorder is a TracerProvider that keeps every span it starts.
type recorder struct {
	embedded.TracerProvider
	mu    sync.Mutex
	spans []*span
}

type recTracer struct {
	embedded.Tracer
	r *recorder
}

type event struct {
	name  string
	attrs map[attribute.Key]attribute.Value
}

type span struct {
	tracenoop.Span
	mu     sync.Mutex
	name   string
	kind   trace.SpanKind
	attrs  map[attribute.Key]attribute.Value
	events []event
	ended  int
	status codes.Code
	desc   string // the status description
}

func (r *recorder) Tracer(string, ...trace.TracerOption) trace.Tracer { return recTracer{r: r} }

func (t recTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	s := &span{name: name, kind: cfg.SpanKind(), attrs: map[attribute.Key]attribute.Value{}}
	t.r.mu.Lock()
	t.r.spans = append(t.r.spans, s)
	t.r.mu.Unlock()
	return trace.ContextWithSpan(ctx, s), s
}

func (s *span) IsRecording() bool { return true }
func (s *span) End(...trace.SpanEndOption) {
	s.mu.Lock()
	s.ended++
	s.mu.Unlock()
}

func (s *span) SetStatus(c codes.Code, desc string) {
	s.mu.Lock()
	s.status, s.desc = c, desc
	s.mu.Unlock()
}

func (s *span) SetAttributes(kv ...attribute.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range kv {
		s.attrs[a.Key] = a.Value
	}
}

func (s *span) AddEvent(name string, opts ...trace.EventOption) {
	e := event{name: name, attrs: map[attribute.Key]attribute.Value{}}
	cfg := trace.NewEventConfig(opts...)
	for _, a := range cfg.Attributes() {
		e.attrs[a.Key] = a.Value
	}
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

// TestOneSpanPerRequest checks the trace of a request sent three times:
// one internal span with the semantic conventions' attributes and
// http.request.resend_count, one event per attempt, and the span in the
// context the inner transport sees.
func TestOneSpanPerRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		var innerSpans []trace.Span
		f := newFake(answer{status: 503}, answer{err: errRefused})
		inner := rtFunc(func(r *http.Request) (*http.Response, error) {
			innerSpans = append(innerSpans, trace.SpanFromContext(r.Context()))
			return f.RoundTrip(r)
		})
		tr := client.New(inner, client.Options{TracerProvider: rec})
		req, _ := http.NewRequest("POST", "http://user:secret@api.test:8080/orders?x=1", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()

		if len(rec.spans) != 1 {
			t.Fatalf("%d spans, want 1", len(rec.spans))
		}
		s := rec.spans[0]
		if s.name != "backstop.client POST" || s.kind != trace.SpanKindInternal || s.ended != 1 {
			t.Fatalf("span %q kind %v ended %d times", s.name, s.kind, s.ended)
		}
		want := map[attribute.Key]attribute.Value{
			"http.request.method":       attribute.StringValue("POST"),
			"server.address":            attribute.StringValue("api.test"),
			"server.port":               attribute.IntValue(8080),
			"url.full":                  attribute.StringValue("http://REDACTED:REDACTED@api.test:8080/orders?x=1"),
			"http.response.status_code": attribute.IntValue(200),
			"http.request.resend_count": attribute.IntValue(2),
		}
		for k, v := range want {
			if s.attrs[k] != v {
				t.Errorf("span attribute %s = %v, want %v", k, s.attrs[k].String(), v.String())
			}
		}
		if len(s.events) != 3 {
			t.Fatalf("%d events, want 3", len(s.events))
		}
		wantEvents := []map[attribute.Key]attribute.Value{
			{"http.response.status_code": attribute.IntValue(503), "backstop.client.decision": attribute.StringValue("retry")},
			{"http.request.resend_count": attribute.IntValue(1), "error.type": attribute.StringValue("*errors.errorString"), "backstop.client.decision": attribute.StringValue("retry")},
			{"http.request.resend_count": attribute.IntValue(2), "http.response.status_code": attribute.IntValue(200), "backstop.client.decision": attribute.StringValue("done")},
		}
		for i, we := range wantEvents {
			e := s.events[i]
			if e.name != "attempt" {
				t.Errorf("event %d is %q", i, e.name)
			}
			for k, v := range we {
				if e.attrs[k] != v {
					t.Errorf("event %d attribute %s = %v, want %v", i, k, e.attrs[k].String(), v.String())
				}
			}
			if _, ok := e.attrs["http.request.resend_count"]; i == 0 && ok {
				t.Error("the first attempt has a resend count")
			}
		}
		for i, is := range innerSpans {
			if is != trace.Span(s) {
				t.Errorf("attempt %d ran outside the request's span", i)
			}
		}
	})
}

// TestSpanOfFailedRequest checks error.type on a request that got no
// response.
func TestSpanOfFailedRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		f := &fake{start: time.Now(), always: &answer{err: errRefused}}
		tr := client.New(f, client.Options{TracerProvider: rec, MaxAttempts: 1})
		if _, _, err := get(tr, context.Background(), "http://api.test/"); err == nil {
			t.Fatal("no error")
		}
		s := rec.spans[0]
		if s.attrs["error.type"].AsString() != "*errors.errorString" || s.ended != 1 {
			t.Fatalf("attributes %v", s.attrs)
		}
		if _, ok := s.attrs["http.request.resend_count"]; ok {
			t.Fatal("resend count on a request sent once")
		}
	})
}

// TestNoopTracerProviderCostsNothing checks that with a provider of
// package trace/noop, whose spans never record, no span is started: a GET
// that succeeds at once allocates nothing, and the inner transport gets
// the caller's request itself, with its context.
func TestNoopTracerProviderCostsNothing(t *testing.T) {
	ok := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
	var got *http.Request
	inner := rtFunc(func(r *http.Request) (*http.Response, error) { got = r; return ok, nil })
	for _, tp := range []trace.TracerProvider{tracenoop.NewTracerProvider(), &tracenoop.TracerProvider{}} {
		tr := client.New(inner, client.Options{TracerProvider: tp})
		req, _ := http.NewRequest("GET", "http://api.test/", nil)
		if _, err := tr.RoundTrip(req); err != nil || got != req {
			t.Fatalf("%T: inner transport got %p, want the caller's %p (err %v)", tp, got, req, err)
		}
		if raceEnabled {
			continue
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := tr.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%T: %v allocations per GET, want 0", tp, allocs)
		}
	}
}

// logSink keeps log records.
type logSink struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (h *logSink) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *logSink) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logSink) WithGroup(string) slog.Handler      { return h }

// TestRetryLoggedAtDebug checks one debug record per retry, with the
// attempt and its status or error, and never the key.
func TestRetryLoggedAtDebug(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &logSink{}
		var key string
		f := newFake(answer{status: 503}, answer{err: errRefused})
		inner := rtFunc(func(r *http.Request) (*http.Response, error) {
			key = r.Header.Get(client.HeaderKey)
			return f.RoundTrip(r)
		})
		tr := client.New(inner, client.Options{Logger: slog.New(sink)})
		req, _ := http.NewRequest("POST", "http://api.test/orders?token=secret", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(sink.records) != 2 {
			t.Fatalf("%d records, want 2", len(sink.records))
		}
		for i, r := range sink.records {
			if r.Level != slog.LevelDebug || r.Message != "client: retrying request" {
				t.Fatalf("record %d: %v %q", i, r.Level, r.Message)
			}
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool {
				attrs[a.Key] = a.Value.String()
				return true
			})
			for _, v := range attrs {
				if strings.Contains(v, strings.Trim(key, `"`)) || strings.Contains(v, "secret") {
					t.Fatalf("record %d logs the key or the URL: %v", i, attrs)
				}
			}
			if attrs["attempt"] != []string{"1", "2"}[i] || attrs["host"] != "api.test" || attrs["method"] != "POST" {
				t.Fatalf("record %d: %v", i, attrs)
			}
		}
		if !strings.Contains(sink.records[0].Message, "retrying") {
			t.Fatal(sink.records[0].Message)
		}
	})
}

// A Transport without a Logger logs to the slog default of the moment,
// not of New. (Not parallel: it sets the process's default logger.)
func TestNilLoggerIsTheDefaultAtLogTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(answer{status: 503})
		tr := client.New(f, client.Options{})
		sink := &logSink{}
		old := slog.Default()
		slog.SetDefault(slog.New(sink))
		defer slog.SetDefault(old)
		req, _ := http.NewRequest("POST", "http://api.test/orders", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(sink.records) != 1 || sink.records[0].Message != "client: retrying request" {
			t.Fatalf("the default set after New got %d records, want the retry's", len(sink.records))
		}
	})
}

// TestEmptyMethodTracedAndLoggedAsGET checks that a request with an empty
// Method, which net/http sends as a GET, is traced and logged as a GET,
// not as an unknown method.
func TestEmptyMethodTracedAndLoggedAsGET(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		sink := &logSink{}
		f := newFake(answer{status: 503})
		tr := client.New(f, client.Options{TracerProvider: rec, Logger: slog.New(sink)})
		u, _ := url.Parse("http://api.test/")
		resp, err := tr.RoundTrip(&http.Request{URL: u, Header: http.Header{}}) // Method "": GET
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s := rec.spans[0]
		if s.name != "backstop.client GET" || s.attrs["http.request.method"].AsString() != "GET" {
			t.Errorf("span %q with http.request.method %q, want backstop.client GET and GET", s.name, s.attrs["http.request.method"].AsString())
		}
		if len(sink.records) != 1 {
			t.Fatalf("%d records, want 1", len(sink.records))
		}
		sink.records[0].Attrs(func(a slog.Attr) bool {
			if a.Key == "method" && a.Value.String() != "GET" {
				t.Errorf("retry logged with method %q, want GET", a.Value.String())
			}
			return true
		})
	})
}

// TestURLFullRedactsSignedQuery checks that url.full has the values of
// the query parameters that the semantic conventions list as credentials
// (signed URLs' signatures and tokens) redacted, their keys and the other
// parameters kept.
func TestURLFullRedactsSignedQuery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		tr := client.New(newFake(), client.Options{TracerProvider: rec})
		const raw = "https://bucket.test/o?X-Amz-Credential=AKIA%2F1&X-Amz-Security-Token=tok&X-Amz-Signature=abc&sig=s1&X-Goog-Signature=g1&color=blue"
		if _, _, err := get(tr, context.Background(), raw); err != nil {
			t.Fatal(err)
		}
		const want = "https://bucket.test/o?X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED&color=blue"
		if got := rec.spans[0].attrs["url.full"].AsString(); got != want {
			t.Fatalf("url.full = %s\nwant       %s", got, want)
		}
	})
}

// TestUnknownMethodKeepsTheOriginal checks that a method the semantic
// conventions do not know is recorded as _OTHER with the method itself in
// http.request.method_original, which they require whenever the two
// differ.
func TestUnknownMethodKeepsTheOriginal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		tr := client.New(newFake(), client.Options{TracerProvider: rec})
		req, _ := http.NewRequest("PROPFIND", "http://api.test/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s := rec.spans[0]
		if m, o := s.attrs["http.request.method"].AsString(), s.attrs["http.request.method_original"].AsString(); m != "_OTHER" || o != "PROPFIND" || s.name != "backstop.client HTTP" {
			t.Fatalf("span %q: http.request.method %q, http.request.method_original %q; want _OTHER and PROPFIND", s.name, m, o)
		}
	})
}

// TestSpanStatusWithoutRawError checks that a failed request's span says
// so with its status and error.type, and does not carry the error's
// text, which may hold what no span may (otelx/CONVENTIONS.md: never "raw
// error strings"): here an inner transport's error quoting a signed URL.
func TestSpanStatusWithoutRawError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		leak := &url.Error{Op: "Get", URL: "https://api.test/o?token=secret", Err: errRefused}
		f := &fake{start: time.Now(), always: &answer{err: leak}}
		tr := client.New(f, client.Options{TracerProvider: rec, MaxAttempts: 1})
		if _, _, err := get(tr, context.Background(), "http://api.test/"); err == nil {
			t.Fatal("no error")
		}
		s := rec.spans[0]
		if s.status != codes.Error || strings.Contains(s.desc, "secret") {
			t.Fatalf("span status %v %q, want Error without the error's text", s.status, s.desc)
		}
	})
}
