package otelx

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope (tracer and meter name) of the
// middleware's spans and metrics: the package's import path, as every
// Backstop package names its scope.
const ScopeName = "github.com/backstop-go/backstop/otelx"

// Middleware records a server span and the HTTP server metrics of the
// semantic conventions for every request. Create it with [NewMiddleware];
// Handler panics on the zero value. It is safe for concurrent use.
type Middleware struct {
	tracer      trace.Tracer
	propagators propagation.TextMapPropagator
	duration    metric.Float64Histogram
	reqSize     metric.Int64Histogram
	respSize    metric.Int64Histogram
	filter      func(*http.Request) bool
	route       func(*http.Request) string
	public      func(*http.Request) bool
	traceHeader string
	startOpts   []trace.SpanStartOption
	// noopTracer: the tracer is a no-op one; globalTracer: it comes from
	// the global provider, which is a no-op while no SDK is installed.
	noopTracer, globalTracer bool
	sets                     metricSets
}

// NewMiddleware returns a Middleware that reads the providers and the
// propagator from opts, or from the globals (which [Setup] sets) once,
// now: a global provider installed later still takes effect, because the
// global tracer and instruments delegate to it.
func NewMiddleware(opts ...MiddlewareOption) *Middleware {
	c := middlewareConfig{filter: DefaultFilter}
	for _, o := range opts {
		o.applyMiddleware(&c)
	}
	global := c.tracerProvider == nil
	if global {
		c.tracerProvider = otel.GetTracerProvider()
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.propagators == nil {
		c.propagators = otel.GetTextMapPropagator()
	}
	m := &Middleware{
		tracer:      c.tracerProvider.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		propagators: c.propagators,
		filter:      c.filter,
		route:       c.route,
		public:      c.public,
		traceHeader: c.traceHeader,
		startOpts:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
		noopTracer:  isNoopTracerProvider(c.tracerProvider),
		globalTracer: global && unsetGlobalTracerProvider != nil &&
			reflect.TypeOf(c.tracerProvider) == unsetGlobalTracerProvider,
	}
	meter := c.meterProvider.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	// The instruments, their units, descriptions and buckets are
	// otelhttp's. An error leaves a no-op instrument, as in otelhttp.
	d, err := httpconv.NewServerRequestDuration(meter, metric.WithExplicitBucketBoundaries(
		0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	handleErr(err)
	rq, err := httpconv.NewServerRequestBodySize(meter)
	handleErr(err)
	rs, err := httpconv.NewServerResponseBodySize(meter)
	handleErr(err)
	m.duration, m.reqSize, m.respSize = d.Inst(), rq.Inst(), rs.Inst()
	return m
}

// tracerIsNoop reports whether m's tracer records nothing and makes no
// span context: a no-op provider was given, or the global provider is used
// and no SDK has been installed yet.
func (m *Middleware) tracerIsNoop() bool {
	return m.noopTracer || m.globalTracer && reflect.TypeOf(otel.GetTracerProvider()) == unsetGlobalTracerProvider
}

func handleErr(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// DefaultFilter is the filter of a [Middleware] without [WithFilter]: it
// returns false (no span, no metrics) for the health probe and metrics
// paths /livez, /readyz, /healthz, /startupz and /metrics and the paths
// under them (/readyz/db), true for every other request.
func DefaultFilter(r *http.Request) bool {
	if r.URL == nil {
		return true
	}
	p := r.URL.Path
	if len(p) < len("/livez") {
		return true
	}
	switch p[1] { // most paths are rejected here
	case 'l', 'r', 'h', 's', 'm':
	default:
		return true
	}
	for _, probe := range [...]string{"/livez", "/readyz", "/healthz", "/startupz", "/metrics"} {
		if strings.HasPrefix(p, probe) && (len(p) == len(probe) || p[len(probe)] == '/') {
			return false
		}
	}
	return true
}

// Handler returns next wrapped in telemetry. Use it as a router's
// outermost middleware, so that the span covers the others and a
// recovery middleware inside it turns panics into 500s it can see.
//
// Each request that the filter keeps gets a SERVER span, a child of the
// caller's trace context (unless [WithPublicEndpointFn] says otherwise),
// named "{method} {route}" as the HTTP semantic conventions ask, where
// route is what [WithRouteFunc] returns or the path of the ServeMux
// pattern (r.Pattern) that matched, read once the handler has returned:
// the middleware may sit outside the mux. Without a route the name is the
// method. Its attributes and status are those of otelhttp v0.72.0, with
// http.route and, for 5xx, error.type added. The request's duration,
// request body size and response body size are recorded in the
// http.server.request.duration, http.server.request.body.size and
// http.server.response.body.size histograms, with the attributes
// http.request.method, url.scheme, network.protocol.name and .version,
// http.response.status_code, http.route and error.type (5xx); not
// server.address or server.port, which the conventions make opt-in
// because the client chooses the Host header.
//
// The handler gets a context holding the span, so that problem's
// traceId, [NewLogHandler]'s trace_id and outgoing calls line up. When
// neither the span records nor the metrics are enabled (no SDK installed),
// Handler builds no attribute and does not wrap the ResponseWriter.
// Otherwise the ResponseWriter the handler gets keeps Flush, Hijack and
// io.ReaderFrom, and Unwrap gives http.ResponseController the rest.
//
// Handler writes no status and no body; with [WithTraceIDHeader] it sets
// one response header. It panics if next is nil or m was not made by
// [NewMiddleware].
func (m *Middleware) Handler(next http.Handler) http.Handler {
	if m == nil || m.tracer == nil {
		panic("otelx: Middleware.Handler called on a Middleware not made by NewMiddleware")
	}
	if next == nil {
		panic("otelx: Middleware.Handler needs a non-nil next handler")
	}
	return &handler{m: m, next: next}
}

type handler struct {
	m    *Middleware
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	if !m.filter(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	in := r.Context()
	ctx := m.propagators.Extract(in, headerCarrier(r.Header))
	opts := m.startOpts
	if m.public != nil && ctx != in && m.public(r) {
		// Start from the server's own context: the caller's span context
		// becomes a link, and its baggage goes.
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsRemote() {
			opts = append(opts[:len(opts):len(opts)], trace.WithLinks(trace.Link{SpanContext: sc}))
		}
		ctx = in
		if baggage.FromContext(ctx).Len() > 0 {
			ctx = baggage.ContextWithoutBaggage(ctx)
		}
	}
	measuring := m.duration.Enabled(ctx) || m.reqSize.Enabled(ctx) || m.respSize.Enabled(ctx)
	if !measuring && m.tracerIsNoop() {
		// No SDK: a no-op span would carry the caller's span context,
		// which ctx already holds, and record nothing.
		if m.traceHeader != "" {
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
				w.Header()[m.traceHeader] = []string{sc.TraceID().String()}
			}
		}
		if ctx != in {
			r = r.WithContext(ctx)
		}
		h.next.ServeHTTP(w, r)
		return
	}

	start := time.Now()
	pattern := r.Pattern
	parent := ctx
	ctx, span := m.tracer.Start(ctx, spanName(r.Method, routeOfPattern(pattern), pattern), opts...)
	sc := span.SpanContext()
	if m.traceHeader != "" && sc.IsValid() {
		w.Header()[m.traceHeader] = []string{sc.TraceID().String()}
	}

	recording := span.IsRecording()
	if !recording && !measuring {
		// Nothing to observe: hand the context on and step aside. A span
		// that neither records nor changes the span context (the no-op
		// tracer of a program without an SDK) adds nothing to it.
		if sc.Equal(trace.SpanContextFromContext(parent)) {
			ctx = parent
		}
		if ctx != r.Context() {
			r = r.WithContext(ctx)
		}
		h.next.ServeHTTP(w, r)
		span.End()
		return
	}

	x := &exchange{w: responseWriter{ResponseWriter: w, status: http.StatusOK}}
	r2 := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		x.body.ReadCloser = r.Body
		r2.Body = &x.body
	}
	returned := false
	defer func() {
		// net/http removes the temporary files of a multipart form it
		// finds on the request it passed in; the handler parsed the copy.
		if r2.MultipartForm != nil {
			r.MultipartForm = r2.MultipartForm
		}
		if !returned && recording {
			// The handler panicked: no status was decided unless one was
			// written. As in otelhttp, no metric is recorded.
			status := 0
			if x.w.wroteHeader {
				status = x.w.status
			}
			m.endSpan(span, r, m.routeOf(r2), r2.Pattern, status, x)
			span.SetStatus(codes.Error, "handler panicked")
		}
		span.End()
	}()
	h.next.ServeHTTP(&x.w, r2)
	returned = true

	route := m.routeOf(r2)
	pattern = r2.Pattern
	status := x.w.status
	if recording {
		m.endSpan(span, r, route, pattern, status, x)
	}
	if measuring {
		opts := m.sets.get(metricKey{
			method: metricMethod(r.Method),
			route:  route,
			status: status,
			https:  r.TLS != nil,
			proto:  r.Proto,
		})
		m.duration.Record(ctx, float64(time.Since(start))/float64(time.Second), opts...)
		m.reqSize.Record(ctx, x.body.read, opts...)
		m.respSize.Record(ctx, x.w.written, opts...)
	}
}

// routeOf returns the route of a request the handler has seen.
func (m *Middleware) routeOf(r *http.Request) string {
	if m.route != nil {
		if route := m.route(r); route != "" {
			return route
		}
	}
	return routeOfPattern(r.Pattern)
}

// spanAttrs holds the attributes of one span while they are set: the SDK
// copies them, so the array goes back to the pool.
var spanAttrs = sync.Pool{New: func() any { return new([24]attribute.KeyValue) }}

func (m *Middleware) endSpan(span trace.Span, r *http.Request, route, pattern string, status int, x *exchange) {
	buf := spanAttrs.Get().(*[24]attribute.KeyValue)
	attrs := appendRequestAttrs(buf[:0], r)
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
		span.SetName(spanName(r.Method, route, pattern))
	}
	if x.body.read > 0 {
		attrs = append(attrs, semconv.HTTPRequestBodySize(int(x.body.read)))
	}
	if x.w.written > 0 {
		attrs = append(attrs, semconv.HTTPResponseBodySize(int(x.w.written)))
	}
	if status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	if et := statusErrorType(status); et != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
	}
	span.SetAttributes(attrs...)
	clear(attrs)
	spanAttrs.Put(buf)
	switch {
	case status == 0: // a panic; the caller sets the status
	case status < 100 || status >= 600:
		span.SetStatus(codes.Error, fmt.Sprintf("Invalid HTTP status code %d", status))
	case status >= 500:
		span.SetStatus(codes.Error, "")
	}
}
