package otelx

import (
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// SetupOption configures [Setup].
type SetupOption interface {
	applySetup(*setupConfig)
}

type setupOptionFunc func(*setupConfig)

func (f setupOptionFunc) applySetup(c *setupConfig) { f(c) }

type setupConfig struct {
	serviceName     string
	serviceVersion  string
	attrs           []attribute.KeyValue
	spanExporter    sdktrace.SpanExporter
	metricReader    sdkmetric.Reader
	logExporter     sdklog.Exporter
	noGlobal        bool
	localTraceIDs   bool
	shutdownTimeout time.Duration
}

// WithServiceName sets the resource attribute service.name. The variables
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it, so that an
// operator can rename a service without a rebuild. Without either, the
// name is "unknown_service:" followed by the executable's name.
func WithServiceName(name string) SetupOption {
	return setupOptionFunc(func(c *setupConfig) { c.serviceName = name })
}

// WithServiceVersion sets the resource attribute service.version (the
// environment overrides it as it does the name). Without it, the version
// is the main module's version from the build information, when it has
// one.
func WithServiceVersion(version string) SetupOption {
	return setupOptionFunc(func(c *setupConfig) { c.serviceVersion = version })
}

// WithResourceAttributes adds attributes to the resource, for instance
// deployment.environment.name. OTEL_RESOURCE_ATTRIBUTES overrides them
// key by key.
func WithResourceAttributes(attrs ...attribute.KeyValue) SetupOption {
	attrs = append([]attribute.KeyValue(nil), attrs...)
	return setupOptionFunc(func(c *setupConfig) { c.attrs = append(c.attrs, attrs...) })
}

// WithSpanExporter exports spans to e, through a batching processor,
// whatever the environment says about traces (except OTEL_SDK_DISABLED).
// Setup's shutdown shuts e down.
func WithSpanExporter(e sdktrace.SpanExporter) SetupOption {
	if e == nil {
		panic("otelx: WithSpanExporter needs a non-nil SpanExporter")
	}
	return setupOptionFunc(func(c *setupConfig) { c.spanExporter = e })
}

// WithMetricReader collects metrics with r (a periodic reader around an
// exporter, or a ManualReader in tests) whatever the environment says about
// metrics (except OTEL_SDK_DISABLED). Setup's shutdown shuts r down.
func WithMetricReader(r sdkmetric.Reader) SetupOption {
	if r == nil {
		panic("otelx: WithMetricReader needs a non-nil Reader")
	}
	return setupOptionFunc(func(c *setupConfig) { c.metricReader = r })
}

// WithLogExporter exports log records to e, through a batching processor,
// whatever the environment says about logs (except OTEL_SDK_DISABLED).
// Setup's shutdown shuts e down.
func WithLogExporter(e sdklog.Exporter) SetupOption {
	if e == nil {
		panic("otelx: WithLogExporter needs a non-nil Exporter")
	}
	return setupOptionFunc(func(c *setupConfig) { c.logExporter = e })
}

// WithoutGlobal leaves the global providers, propagator and error
// handler alone; use [Telemetry]'s accessors instead. For tests, and for
// programs that run two configurations side by side.
func WithoutGlobal() SetupOption {
	return setupOptionFunc(func(c *setupConfig) { c.noGlobal = true })
}

// WithLocalTraceIDs gives every request a trace id even when traces are
// not exported: the tracer provider then samples nothing, records
// nothing and exports nothing, but it still creates span contexts, so log
// lines ([NewLogHandler]), problem responses (traceId) and the trace id
// response header ([WithTraceIDHeader]) carry an id that ties them
// together. It costs an id per request (see the README's figures for
// NeverSample). When traces are exported, it changes nothing.
func WithLocalTraceIDs() SetupOption {
	return setupOptionFunc(func(c *setupConfig) { c.localTraceIDs = true })
}

// WithShutdownTimeout bounds [Telemetry.Shutdown] (default 5 s): the
// providers flush in parallel, and whatever has not finished by then is
// abandoned and reported as an error. A deadline on Shutdown's context
// that comes sooner wins.
func WithShutdownTimeout(d time.Duration) SetupOption {
	if d <= 0 {
		panic("otelx: WithShutdownTimeout needs a positive duration")
	}
	return setupOptionFunc(func(c *setupConfig) { c.shutdownTimeout = d })
}

// MiddlewareOption configures [NewMiddleware].
type MiddlewareOption interface {
	applyMiddleware(*middlewareConfig)
}

type middlewareOptionFunc func(*middlewareConfig)

func (f middlewareOptionFunc) applyMiddleware(c *middlewareConfig) { f(c) }

type middlewareConfig struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagators    propagation.TextMapPropagator
	filter         func(*http.Request) bool
	route          func(*http.Request) string
	public         func(*http.Request) bool
	traceHeader    string
}

// WithTracerProvider sets the provider of the middleware's tracer.
// Default: the global provider (which [Setup] sets), looked up once.
func WithTracerProvider(p trace.TracerProvider) MiddlewareOption {
	if p == nil {
		panic("otelx: WithTracerProvider needs a non-nil TracerProvider")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.tracerProvider = p })
}

// WithMeterProvider sets the provider of the middleware's HTTP server
// metrics. Default: the global provider, looked up once.
func WithMeterProvider(p metric.MeterProvider) MiddlewareOption {
	if p == nil {
		panic("otelx: WithMeterProvider needs a non-nil MeterProvider")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.meterProvider = p })
}

// WithPropagators sets the propagator that reads the caller's trace
// context and baggage. Default: the global propagator (W3C tracecontext
// and baggage once [Setup] has run, or what OTEL_PROPAGATORS names).
func WithPropagators(p propagation.TextMapPropagator) MiddlewareOption {
	if p == nil {
		panic("otelx: WithPropagators needs a non-nil TextMapPropagator")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.propagators = p })
}

// WithFilter replaces [DefaultFilter]: requests for which keep returns
// false get no span and no metrics (their trace context is not even
// read). keep sees the request before routing. To add to the default:
//
//	otelx.WithFilter(func(r *http.Request) bool {
//		return otelx.DefaultFilter(r) && r.URL.Path != "/favicon.ico"
//	})
func WithFilter(keep func(*http.Request) bool) MiddlewareOption {
	if keep == nil {
		panic("otelx: WithFilter needs a non-nil function")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.filter = keep })
}

// WithRouteFunc names the route of a request for routers that do not set
// http.Request.Pattern. route is called after the handler has returned,
// with the request the handler received, and returns the matched route
// template (for instance "/items/{id}"), or "" when no route matched;
// then the ServeMux pattern, if any, is used. For chi:
//
//	otelx.WithRouteFunc(func(r *http.Request) string {
//		return chi.RouteContext(r.Context()).RoutePattern()
//	})
//
// The route must be a template, never the raw path: it names spans and is
// a metric attribute.
func WithRouteFunc(route func(r *http.Request) string) MiddlewareOption {
	if route == nil {
		panic("otelx: WithRouteFunc needs a non-nil function")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.route = route })
}

// WithPublicEndpointFn marks requests from callers whose trace context is
// not to be trusted (for instance, anything that did not come through your
// own gateway). For those, the caller's traceparent does not become the
// span's parent: the span starts a new trace (or continues an in-process
// one) with a link to the caller's span context, so a client cannot choose
// your trace ids or force sampling, and the caller's baggage is dropped.
// public sees the request before routing. For a service whose every
// caller is on the Internet:
//
//	otelx.WithPublicEndpointFn(func(*http.Request) bool { return true })
func WithPublicEndpointFn(public func(r *http.Request) bool) MiddlewareOption {
	if public == nil {
		panic("otelx: WithPublicEndpointFn needs a non-nil function")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.public = public })
}

// WithTraceIDHeader writes the request's trace id, as 32 lowercase hex
// digits (the form of problem's traceId member and of the trace_id log
// attribute), in the response header name, so that a caller can quote it
// in a bug report. Nothing is written when the request has no valid trace
// id (no SDK installed and no trace context from the caller; see
// [WithLocalTraceIDs]). name must be a valid header name, for instance
// "Trace-Id".
func WithTraceIDHeader(name string) MiddlewareOption {
	if !validHeaderName(name) {
		panic("otelx: WithTraceIDHeader needs a valid header name, got " + strings.ReplaceAll(name, "\n", `\n`))
	}
	name = http.CanonicalHeaderKey(name)
	return middlewareOptionFunc(func(c *middlewareConfig) { c.traceHeader = name })
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
