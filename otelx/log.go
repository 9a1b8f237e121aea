package otelx

import (
	"context"
	"encoding/hex"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// The attribute keys [LogHandler] adds, as the OpenTelemetry specification
// "Trace Context in non-OTLP Log Formats" names them.
const (
	TraceIDKey    = "trace_id"
	SpanIDKey     = "span_id"
	TraceFlagsKey = "trace_flags"
)

// LogHandler is a slog.Handler that adds the trace context of the
// record's context to every record, then passes it to another handler:
// trace_id (32 lowercase hex digits, the value of problem's traceId
// member), span_id (16) and trace_flags (the W3C trace flags, 2 hex
// digits: "01" when sampled, "00" when not, "03" with the random flag),
// at the top level of the record even inside groups (WithGroup), as the
// specification asks. A record whose context holds no valid span context
// passes unchanged, and so does a trace_id the record already carries
// (problem logs one itself).
//
// Only the *Context logging methods (InfoContext, LogAttrs, ...) pass a
// context: slog.Info and its kind log with context.Background(), which
// has no trace. Create it with [NewLogHandler]; it is safe for concurrent
// use as long as the handler it wraps is.
type LogHandler struct {
	base   slog.Handler // the wrapped handler, with the attributes added outside any group
	groups []logGroup   // groups opened with WithGroup, outermost first
}

// logGroup is a group opened with WithGroup and the attributes added in it.
type logGroup struct {
	name  string
	attrs []slog.Attr
}

// NewLogHandler returns a LogHandler that passes records to next. It
// panics if next is nil.
//
// To export logs through OpenTelemetry as well, fan out to the otelslog
// bridge (go.opentelemetry.io/contrib/bridges/otelslog), which reads the
// logger provider [Setup] installs:
//
//	logger := slog.New(slog.NewMultiHandler(
//		otelx.NewLogHandler(slog.NewJSONHandler(os.Stdout, nil)),
//		otelslog.NewHandler("myservice"),
//	))
func NewLogHandler(next slog.Handler) *LogHandler {
	if next == nil {
		panic("otelx: NewLogHandler needs a non-nil slog.Handler")
	}
	return &LogHandler{base: next}
}

// Enabled reports whether the wrapped handler handles records at level.
func (h *LogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.base.Enabled(ctx, level)
}

// WithAttrs returns a LogHandler whose records carry attrs too.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.groups) == 0 {
		return &LogHandler{base: h.base.WithAttrs(attrs)}
	}
	groups := slices.Clone(h.groups)
	last := &groups[len(groups)-1]
	last.attrs = append(slices.Clip(last.attrs), attrs...)
	return &LogHandler{base: h.base, groups: groups}
}

// WithGroup returns a LogHandler that puts the record's attributes (but
// not the trace context) in group name.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &LogHandler{base: h.base, groups: append(slices.Clip(h.groups), logGroup{name: name})}
}

// Handle adds the trace context of ctx to r and passes it on.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	var ids [3]slog.Attr
	n := 0
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		// One string for both ids and the flags.
		var buf [50]byte
		tid, sid, flags := sc.TraceID(), sc.SpanID(), [1]byte{byte(sc.TraceFlags())}
		hex.Encode(buf[:32], tid[:])
		hex.Encode(buf[32:48], sid[:])
		hex.Encode(buf[48:], flags[:])
		s := string(buf[:])
		// Inside a group, the record's own trace_id is not at the top.
		if len(h.groups) > 0 || !hasAttr(r, TraceIDKey) {
			ids[n] = slog.String(TraceIDKey, s[:32])
			n++
		}
		ids[n] = slog.String(SpanIDKey, s[32:48])
		ids[n+1] = slog.String(TraceFlagsKey, s[48:])
		n += 2
	}
	if len(h.groups) == 0 {
		if n > 0 {
			r = r.Clone() // r's attribute storage may be shared with the caller's copy
			r.AddAttrs(ids[:n]...)
		}
		return h.base.Handle(ctx, r)
	}
	return h.base.Handle(ctx, h.regroup(r, ids[:n]))
}

// hasAttr reports whether r has a top-level attribute named key.
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

// regroup builds the record the wrapped handler would have seen through
// WithGroup and WithAttrs, with top first at the top level.
func (h *LogHandler) regroup(r slog.Record, top []slog.Attr) slog.Record {
	inner := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		inner = append(inner, a)
		return true
	})
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := h.groups[i]
		attrs := make([]slog.Attr, 0, len(g.attrs)+len(inner))
		attrs = append(append(attrs, g.attrs...), inner...)
		inner = []slog.Attr{{Key: g.name, Value: slog.GroupValue(attrs...)}}
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(top...)
	out.AddAttrs(inner...)
	return out
}
