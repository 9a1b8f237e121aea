package bench

// OTel HTTP server middleware: otelx against bare otelhttp and against no
// telemetry, with no SDK installed, with the SDK sampling nothing and with
// the SDK sampling everything. The setup is that of the performance anchors
// (shared/research/perf-anchors-wave2.md, section 3): a handler that writes
// 200 and "ok", the request GET /api/items/42?x=1 with a User-Agent and a
// RemoteAddr, b.RunParallel, providers passed in as options; the "no SDK"
// rows use the global providers with nothing installed. Both middlewares
// get the W3C propagators, as after otelx.Setup. The SDK rows record
// metrics into a ManualReader; the AlwaysSample rows end spans into a
// processor that drops them. The "mux" rows put a ServeMux route inside the
// middleware, so that spans are named and metrics carry http.route.
//
//	go test -run '^$' -bench 'OTel' -benchmem -count 6 -cpu 1,2 .

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/backstop-go/backstop/otelx"
)

var otelPropagators = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

var otelOK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
})

// dropSpans is a span processor that drops every span.
type dropSpans struct{}

func (dropSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropSpans) Shutdown(context.Context) error                  { return nil }
func (dropSpans) ForceFlush(context.Context) error                { return nil }

// otelConfig is one way of installing the SDK; nil providers mean the
// globals with nothing installed.
type otelConfig struct {
	name string
	tp   *sdktrace.TracerProvider
	mp   *sdkmetric.MeterProvider
}

func otelConfigs(b *testing.B) []otelConfig {
	sdk := func(s sdktrace.Sampler) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(s), sdktrace.WithSpanProcessor(dropSpans{}))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		})
		return tp, mp
	}
	never, neverM := sdk(sdktrace.NeverSample())
	always, alwaysM := sdk(sdktrace.AlwaysSample())
	return []otelConfig{{"nosdk", nil, nil}, {"never", never, neverM}, {"always", always, alwaysM}}
}

func otelhttpMiddleware(c otelConfig) func(http.Handler) http.Handler {
	opts := []otelhttp.Option{otelhttp.WithPropagators(otelPropagators)}
	if c.tp != nil {
		opts = append(opts, otelhttp.WithTracerProvider(c.tp), otelhttp.WithMeterProvider(c.mp))
	}
	return otelhttp.NewMiddleware("", opts...)
}

func otelxMiddleware(c otelConfig) func(http.Handler) http.Handler {
	opts := []otelx.MiddlewareOption{otelx.WithPropagators(otelPropagators)}
	if c.tp != nil {
		opts = append(opts, otelx.WithTracerProvider(c.tp), otelx.WithMeterProvider(c.mp))
	}
	return otelx.NewMiddleware(opts...).Handler
}

func BenchmarkOTel(b *testing.B) {
	routed := func(h http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("GET /api/items/{id}", h)
		return mux
	}
	b.Run("bare", func(b *testing.B) { otelServe(b, otelOK) })
	b.Run("mux/bare", func(b *testing.B) { otelServe(b, routed(otelOK)) })
	for _, c := range otelConfigs(b) {
		b.Run(c.name+"/otelhttp", func(b *testing.B) { otelServe(b, otelhttpMiddleware(c)(otelOK)) })
		b.Run(c.name+"/otelx", func(b *testing.B) { otelServe(b, otelxMiddleware(c)(otelOK)) })
		// Middleware outside the mux: otelhttp renames the span after
		// routing; otelx also sets http.route.
		b.Run("mux/"+c.name+"/otelhttp", func(b *testing.B) { otelServe(b, otelhttpMiddleware(c)(routed(otelOK))) })
		b.Run("mux/"+c.name+"/otelx", func(b *testing.B) { otelServe(b, otelxMiddleware(c)(routed(otelOK))) })
	}
}

// otelWriter is a ResponseWriter that allocates nothing.
type otelWriter struct{ h http.Header }

func (w *otelWriter) Header() http.Header         { return w.h }
func (w *otelWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *otelWriter) WriteHeader(int)             {}

func otelServe(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &otelWriter{h: http.Header{}}
		req := otelRequest() // one per goroutine, as in the anchors
		for pb.Next() {
			req.Pattern = "" // the mux sets it on the request it is given
			h.ServeHTTP(w, req)
		}
	})
}

func otelRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://api.example.com/api/items/42?x=1", nil)
	r.Header.Set("User-Agent", "bench/1.0")
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}
