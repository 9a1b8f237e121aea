package otelx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

var testSpanContext = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	TraceFlags: trace.FlagsSampled,
})

// jsonHandler logs JSON without the time into buf.
func jsonHandler(buf *bytes.Buffer) slog.Handler {
	return slog.NewJSONHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
}

func TestLogHandlerAddsTraceContextAtTopLevel(t *testing.T) {
	ctx := trace.ContextWithSpanContext(context.Background(), testSpanContext)
	for _, tc := range []struct {
		name string
		log  func(l *slog.Logger)
		want string
	}{
		{"plain", func(l *slog.Logger) { l.InfoContext(ctx, "m", "a", 1) },
			`{"level":"INFO","msg":"m","a":1,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01"}`},
		{"with attrs", func(l *slog.Logger) { l.With("svc", "x").InfoContext(ctx, "m") },
			`{"level":"INFO","msg":"m","svc":"x","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01"}`},
		{"in a group", func(l *slog.Logger) {
			l.With("svc", "x").WithGroup("req").With("id", 7).WithGroup("inner").InfoContext(ctx, "m", "b", 2)
		}, `{"level":"INFO","msg":"m","svc":"x","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01","req":{"id":7,"inner":{"b":2}}}`},
		{"in an empty group", func(l *slog.Logger) { l.WithGroup("req").InfoContext(ctx, "m") },
			`{"level":"INFO","msg":"m","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01"}`},
		{"record has its own trace_id", func(l *slog.Logger) { l.InfoContext(ctx, "m", "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736") },
			`{"level":"INFO","msg":"m","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01"}`},
		{"no span", func(l *slog.Logger) { l.InfoContext(context.Background(), "m", "a", 1) },
			`{"level":"INFO","msg":"m","a":1}`},
		{"no context", func(l *slog.Logger) { l.Info("m") }, `{"level":"INFO","msg":"m"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(slog.New(NewLogHandler(jsonHandler(&buf))))
			if got := strings.TrimSpace(buf.String()); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLogHandlerGroupsMatchTheWrappedHandler(t *testing.T) {
	// Without a span, the output must be exactly what the wrapped handler
	// writes on its own, groups included.
	log := func(h slog.Handler) {
		l := slog.New(h)
		l.With("a", 1).WithGroup("g").With("b", 2).WithGroup("h").Info("m", "c", 3, slog.Group("d", "e", 4))
		l.WithGroup("g").WithGroup("h").Info("m")
	}
	var plain, wrapped bytes.Buffer
	log(jsonHandler(&plain))
	log(NewLogHandler(jsonHandler(&wrapped)))
	if plain.String() != wrapped.String() {
		t.Errorf("wrapped handler wrote\n%s\nthe handler alone wrote\n%s", wrapped.String(), plain.String())
	}
}

func TestLogHandlerLeavesTheRecordOfOtherHandlersAlone(t *testing.T) {
	ctx := trace.ContextWithSpanContext(context.Background(), testSpanContext)
	var a, b bytes.Buffer
	l := slog.New(slog.NewMultiHandler(NewLogHandler(jsonHandler(&a)), jsonHandler(&b)))
	l.InfoContext(ctx, "m", "1", 1, "2", 2, "3", 3, "4", 4, "5", 5, "6", 6) // past the record's inline attributes
	if !strings.Contains(a.String(), `"trace_id"`) {
		t.Errorf("wrapped handler: %s", a.String())
	}
	if strings.Contains(b.String(), "trace_id") || strings.Contains(b.String(), "!BUG") {
		t.Errorf("the other handler saw the added attributes: %s", b.String())
	}
}

func TestLogHandlerUnsampledFlags(t *testing.T) {
	sc := testSpanContext.WithTraceFlags(0)
	var buf bytes.Buffer
	slog.New(NewLogHandler(jsonHandler(&buf))).InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "m")
	if !strings.Contains(buf.String(), `"trace_flags":"00"`) {
		t.Errorf("got %s", buf.String())
	}
}

func TestLogHandlerKeepsEveryTraceFlag(t *testing.T) {
	sc := testSpanContext.WithTraceFlags(trace.FlagsSampled | trace.FlagsRandom)
	var buf bytes.Buffer
	slog.New(NewLogHandler(jsonHandler(&buf))).InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "m")
	if !strings.Contains(buf.String(), `"trace_flags":"03"`) {
		t.Errorf("got %s, want the W3C trace flags 03", buf.String())
	}
}

func TestLogLinesInAHandlerCarryTheRequestsTraceID(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	var buf bytes.Buffer
	logger := slog.New(NewLogHandler(jsonHandler(&buf)))
	h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "handled")
	}))
	serve(h, httptest.NewRequest("GET", "/x", nil))
	var line struct {
		TraceID string `json:"trace_id"`
		SpanID  string `json:"span_id"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	sc := s.ended()[0].SpanContext()
	if line.TraceID != sc.TraceID().String() || line.SpanID != sc.SpanID().String() {
		t.Errorf("log ids %s/%s, span %s/%s", line.TraceID, line.SpanID, sc.TraceID(), sc.SpanID())
	}
}

func TestNewLogHandlerPanicsOnNil(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewLogHandler(nil)
}

func BenchmarkLogHandler(b *testing.B) {
	ctx := trace.ContextWithSpanContext(context.Background(), testSpanContext)
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"json", slog.NewJSONHandler(discard{}, nil)},
		{"json+otelx", NewLogHandler(slog.NewJSONHandler(discard{}, nil))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := slog.New(bc.h)
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(ctx, slog.LevelInfo, "order read", slog.Int("id", 42), slog.String("status", "ok"))
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
