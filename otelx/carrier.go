package otelx

import (
	"net/http"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// headerCarrier is propagation.HeaderCarrier without its cost: the
// propagators ask for lower-case names ("traceparent"), which
// http.Header.Get canonicalises into a new string on every call. The
// server's header keys are canonical, so the names the W3C propagators use
// are looked up directly.
type headerCarrier http.Header

var _ propagation.ValuesGetter = headerCarrier(nil)

func canonical(key string) string {
	switch key {
	case "traceparent":
		return "Traceparent"
	case "tracestate":
		return "Tracestate"
	case "baggage":
		return "Baggage"
	}
	return http.CanonicalHeaderKey(key)
}

func (c headerCarrier) Get(key string) string {
	if v := c[canonical(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c headerCarrier) Values(key string) []string { return c[canonical(key)] }

func (c headerCarrier) Set(key, value string) { c[canonical(key)] = []string{value} }

func (c headerCarrier) Keys() []string { return propagation.HeaderCarrier(c).Keys() }

// unsetGlobalTracerProvider is the type of the global tracer provider
// before an SDK is installed (otel's internal delegating provider), or nil
// if one was installed before this package was initialised.
var unsetGlobalTracerProvider = func() reflect.Type {
	t := reflect.TypeOf(otel.GetTracerProvider())
	if t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" {
		return t
	}
	return nil
}()

// isNoopTracerProvider reports whether spans of p never record and carry
// only their parent's span context.
func isNoopTracerProvider(p trace.TracerProvider) bool {
	switch p.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		return true
	}
	return false
}
