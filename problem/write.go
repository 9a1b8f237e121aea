package problem

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/backstop-go/backstop/internal/headerval"
)

// Media types of the two forms of RFC 9457.
const (
	ContentTypeJSON = "application/problem+json"
	ContentTypeXML  = "application/problem+xml"
)

// Options configure a [Writer]. The zero value is the default writer that
// the package-level [Write] uses.
type Options struct {
	// Logger receives one record per 5xx problem (with its cause) and per
	// problem that could not be written. Nil means slog.Default() at the time
	// of writing.
	Logger *slog.Logger

	// TraceIDMember names the extension member that carries the bare 32-hex
	// OpenTelemetry trace id when the request's context holds a valid span.
	// Empty means "traceId"; "-" turns the member off. A problem's own
	// extension of that name wins. A standard member name ("type",
	// "status", ...) makes NewWriter panic.
	TraceIDMember string

	// DisableXML makes the writer answer with JSON even to clients that
	// prefer application/problem+xml, and drops "Vary: Accept".
	DisableXML bool

	// Map turns errors that hold no *Problem into one, for domain errors
	// such as sql.ErrNoRows. It returns nil for errors it does not know,
	// which are then written as a generic 500. Nil means no mapping.
	Map func(error) *Problem
}

// Writer writes problems to HTTP responses. Most programs use the
// package-level [Write]; create a Writer with [NewWriter] to change the
// logger, the trace id member, XML support or error mapping. The zero
// value is the default Writer, the one NewWriter(Options{}) returns. A
// Writer is safe for concurrent use.
type Writer struct {
	logger      *slog.Logger
	traceMember string // as in Options: "" means "traceId", "-" none
	noXML       bool
	mapErr      func(error) *Problem
}

// NewWriter returns a Writer configured by o. It panics when
// o.TraceIDMember names a standard member ("type", "status", ...): that is
// a programming error, caught at start-up.
func NewWriter(o Options) *Writer {
	if isReserved(o.TraceIDMember) {
		panic("problem: NewWriter: Options.TraceIDMember " + strconv.Quote(o.TraceIDMember) + " is a standard member")
	}
	return &Writer{logger: o.Logger, traceMember: o.TraceIDMember, noXML: o.DisableXML, mapErr: o.Map}
}

// traceIDMember returns the name of the trace id member, or "" for none.
func (wr *Writer) traceIDMember() string {
	switch wr.traceMember {
	case "":
		return "traceId"
	case "-":
		return ""
	}
	return wr.traceMember
}

var defaultWriter Writer

// Write writes err to w as a problem with the default [Writer]; see
// [Writer.Write].
func Write(w http.ResponseWriter, r *http.Request, err error) {
	defaultWriter.Write(w, r, err)
}

// internalError is what a client sees for any error that is not a problem.
var internalError = Problem{Status: http.StatusInternalServerError}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Write writes err as an RFC 9457 problem, setting the response status and
// the "status" member from the same value.
//
// When err's chain holds a *[Problem], that problem is written as it is,
// with its Header: each of its headers replaces one already set on w,
// except Vary, whose items are added to those already set (such as Origin
// from CORS middleware). Any other error (or nil, or a nil *Problem) becomes
// a generic 500 with no detail, after Options.Map has had its chance; the
// error itself is logged and never sent. A problem whose Status is not in
// 400–599, or that cannot be encoded, is a programming error: it is logged
// and a generic 500 is written instead. 5xx problems are logged with their
// cause.
//
// The body is application/problem+json, also for clients that accept only
// application/json or nothing suitable at all (never 406, as RFC 9457 §3
// allows), and application/problem+xml (RFC 9457 Appendix B) when the
// client prefers it and XML is enabled. Write also sets
// "Cache-Control: no-store" unless the problem's Header has its own,
// "X-Content-Type-Options: nosniff" and "Vary: Accept", removes any
// Content-Length, and sends no body to HEAD requests. When the request's
// context carries a valid OpenTelemetry span, the trace id is added as an
// extension member.
//
// Write must be called before anything else was written to w.
func (wr *Writer) Write(w http.ResponseWriter, r *http.Request, err error) {
	p, ok := From(err)
	if !ok && err != nil && wr.mapErr != nil {
		p = wr.mapErr(err)
		ok = p != nil
	}
	switch {
	case !ok:
		wr.log(r, err, "problem: writing a generic 500 for an error that is not a problem")
		p = &internalError
	case p.Status < 400 || p.Status > 599:
		wr.log(r, err, "problem: status outside 400-599; writing a generic 500 instead")
		p = &internalError
	case p.Status >= 500:
		wr.log(r, err, "problem: server error")
	}

	asXML := !wr.noXML && prefersXML(r.Header["Accept"])
	var traceHex [32]byte
	var traceID []byte
	traceName := wr.traceIDMember()
	if traceName != "" {
		if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
			id := sc.TraceID()
			hex.Encode(traceHex[:], id[:])
			traceID = traceHex[:]
		}
	}

	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			*bp = (*bp)[:0]
			bufPool.Put(bp)
		}
	}()
	var body []byte
	var encErr error
	if traceID == nil {
		traceName = ""
	}
	if asXML {
		body, encErr = p.appendXML((*bp)[:0], traceName, traceID)
	} else {
		body, encErr = p.appendJSON((*bp)[:0], traceName, traceID)
	}
	if encErr != nil {
		wr.log(r, errors.Join(encErr, err), "problem: cannot encode problem; writing a generic 500 instead")
		p = &internalError
		if asXML {
			body, _ = p.appendXML((*bp)[:0], traceName, traceID)
		} else {
			body, _ = p.appendJSON((*bp)[:0], traceName, traceID)
		}
	}
	*bp = body

	h := w.Header()
	vals := headerval.Get() // values of this response's own
	for k, v := range p.Header {
		if k == "Vary" && len(h[k]) > 0 {
			// Keep what middleware already varies on (Origin for CORS):
			// a cache must not serve this response to other variants.
			for _, item := range v {
				if !listHas(h[k], item) {
					h[k] = append(slices.Clip(h[k]), item)
				}
			}
			continue
		}
		// The response's own copy: middleware may rewrite it in place, and
		// p may be written to other responses at the same time.
		if len(v) == 1 {
			h[k] = vals.Value(v[0])
		} else {
			h[k] = slices.Clone(v)
		}
	}
	if asXML {
		h["Content-Type"] = vals.Value(ContentTypeXML)
	} else {
		h["Content-Type"] = vals.Value(ContentTypeJSON)
	}
	if _, set := p.Header["Cache-Control"]; !set {
		h["Cache-Control"] = vals.Value("no-store")
	}
	h["X-Content-Type-Options"] = vals.Value("nosniff")
	if !wr.noXML {
		if vary := h["Vary"]; len(vary) == 0 {
			h["Vary"] = vals.Value("Accept")
		} else if !listHas(vary, "Accept") {
			h["Vary"] = append(slices.Clip(vary), "Accept")
		}
	}
	headerval.Put(vals)
	delete(h, "Content-Length")
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// log records a problem that the server caused. It never logs the request's
// URL or body, which come from the client; the route pattern is logged.
func (wr *Writer) log(r *http.Request, err error, msg string) {
	logger := wr.logger
	if logger == nil {
		logger = slog.Default()
	}
	level := slog.LevelError
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		level = slog.LevelInfo // the client went away; nothing is broken
	}
	ctx := r.Context()
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("method", r.Method)}
	if r.Pattern != "" {
		attrs = append(attrs, slog.String("route", r.Pattern))
	}
	if p, ok := From(err); ok {
		attrs = append(attrs, slog.Int("status", p.Status), slog.String("type", p.typeURI()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		if p, ok := From(err); ok && p.cause != nil {
			attrs = append(attrs, slog.String("cause", p.cause.Error()))
		}
		var pe *PanicError
		if errors.As(err, &pe) {
			attrs = append(attrs, slog.String("stack", string(pe.Stack)))
		}
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	logger.LogAttrs(ctx, level, msg, attrs...)
}

// listHas reports whether a comma-separated header field holds token, in
// any case.
func listHas(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if item = strings.TrimSpace(item); strings.EqualFold(item, token) || item == "*" {
				return true
			}
		}
	}
	return false
}
