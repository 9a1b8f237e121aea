package otelx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	lognoop "go.opentelemetry.io/otel/log/noop"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// clearOTelEnv unsets every OTEL_* variable for the test.
func clearOTelEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "") // restores the value after the test
			os.Unsetenv(k)
		}
	}
}

// restoreGlobals puts no-op globals back after a test that let Setup
// install its own.
func restoreGlobals(t *testing.T) {
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		otel.SetLoggerProvider(lognoop.NewLoggerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
}

// spanRecorder is a SpanExporter that keeps what it is sent, and whose
// Shutdown can be made slow.
type spanRecorder struct {
	mu       sync.Mutex
	spans    []sdktrace.ReadOnlySpan
	shutdown int
	delay    time.Duration // Shutdown sleeps this long, ignoring its context
}

func (e *spanRecorder) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.spans = append(e.spans, spans...)
	return nil
}

func (e *spanRecorder) Shutdown(context.Context) error {
	time.Sleep(e.delay)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shutdown++
	return nil
}

func (e *spanRecorder) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.spans)
}

// logRecorder is the same for log records.
type logRecorder struct {
	mu      sync.Mutex
	records int
	delay   time.Duration
}

func (e *logRecorder) Export(_ context.Context, rs []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records += len(rs)
	return nil
}
func (e *logRecorder) Shutdown(context.Context) error   { time.Sleep(e.delay); return nil }
func (e *logRecorder) ForceFlush(context.Context) error { return nil }

func (e *logRecorder) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.records
}

// metricRecorder is the same for metrics.
type metricRecorder struct {
	mu      sync.Mutex
	metrics int
	delay   time.Duration
}

func (e *metricRecorder) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}
func (e *metricRecorder) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}
func (e *metricRecorder) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, sm := range rm.ScopeMetrics {
		e.metrics += len(sm.Metrics)
	}
	return nil
}
func (e *metricRecorder) ForceFlush(context.Context) error { return nil }
func (e *metricRecorder) Shutdown(context.Context) error   { time.Sleep(e.delay); return nil }

func (e *metricRecorder) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.metrics
}

func TestSetupWithoutEndpointInstallsNoSDK(t *testing.T) {
	clearOTelEnv(t)
	restoreGlobals(t)
	before := otel.GetTracerProvider()
	tel, err := Setup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tel.parts) != 0 {
		t.Errorf("Setup created %d providers with no endpoint", len(tel.parts))
	}
	if otel.GetTracerProvider() != before {
		t.Errorf("global tracer provider replaced by %T", otel.GetTracerProvider())
	}
	if _, ok := otel.GetMeterProvider().(*sdkmetric.MeterProvider); ok {
		t.Error("global meter provider is an SDK provider")
	}
	_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "s")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("a span without an SDK records or has ids")
	}
	c, _ := tel.MeterProvider().Meter("t").Int64Counter("c")
	if c.Enabled(context.Background()) {
		t.Error("a counter without an SDK is enabled")
	}
	// The propagator is installed all the same.
	fields := otel.GetTextMapPropagator().Fields()
	if !contains(fields, "traceparent") || !contains(fields, "baggage") {
		t.Errorf("global propagator fields = %v, want traceparent and baggage", fields)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestSetupInstallsGlobals(t *testing.T) {
	clearOTelEnv(t)
	restoreGlobals(t)
	tel, err := Setup(context.Background(), WithSpanExporter(&spanRecorder{}), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&logRecorder{}))
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if otel.GetTracerProvider() != tel.TracerProvider() {
		t.Error("global tracer provider is not Setup's")
	}
	if otel.GetMeterProvider() != tel.MeterProvider() {
		t.Error("global meter provider is not Setup's")
	}
	if otel.GetLoggerProvider() != tel.LoggerProvider() {
		t.Error("global logger provider is not Setup's")
	}
}

func TestWithoutGlobalLeavesGlobalsAlone(t *testing.T) {
	clearOTelEnv(t)
	restoreGlobals(t)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	before := otel.GetTracerProvider()
	tel, err := Setup(context.Background(), WithoutGlobal(), WithSpanExporter(&spanRecorder{}))
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if otel.GetTracerProvider() != before || len(otel.GetTextMapPropagator().Fields()) != 0 {
		t.Error("WithoutGlobal changed a global")
	}
}

func TestOTELPropagatorsIsHonoured(t *testing.T) {
	clearOTelEnv(t)
	t.Setenv("OTEL_PROPAGATORS", "b3")
	tel, err := Setup(context.Background(), WithoutGlobal())
	if err != nil {
		t.Fatal(err)
	}
	if f := tel.Propagator().Fields(); contains(f, "traceparent") || !contains(f, "b3") {
		t.Errorf("fields = %v, want b3 only", f)
	}
}

func TestUnknownExporterFailsSetupAndReleasesWhatItMade(t *testing.T) {
	clearOTelEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
	if _, err := Setup(context.Background(), WithoutGlobal()); err == nil || !strings.Contains(err.Error(), "otelx: traces") {
		t.Errorf("err = %v, want an otelx: traces error", err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_METRICS_EXPORTER", "carrier-pigeon")
	exp := &spanRecorder{}
	if _, err := Setup(context.Background(), WithoutGlobal(), WithSpanExporter(exp)); err == nil || !strings.Contains(err.Error(), "otelx: metrics") {
		t.Errorf("err = %v, want an otelx: metrics error", err)
	}
	if exp.shutdown != 1 {
		t.Errorf("the span exporter was shut down %d times after the failed Setup, want 1", exp.shutdown)
	}
}

func TestShutdownFlushesPendingTelemetry(t *testing.T) {
	clearOTelEnv(t)
	synctest.Test(t, func(t *testing.T) {
		spans, logs, metrics := &spanRecorder{}, &logRecorder{}, &metricRecorder{}
		tel, err := Setup(context.Background(), WithoutGlobal(), WithSpanExporter(spans),
			WithLogExporter(logs), WithMetricReader(sdkmetric.NewPeriodicReader(metrics)))
		if err != nil {
			t.Fatal(err)
		}
		_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "s")
		span.End()
		var rec otellog.Record
		rec.SetBody(attribute.StringValue("hello"))
		tel.LoggerProvider().Logger("t").Emit(context.Background(), rec)
		c, _ := tel.MeterProvider().Meter("t").Int64Counter("c")
		c.Add(context.Background(), 1)
		// The fake clock stands still: nothing was exported on a timer.
		if spans.count()+logs.count()+metrics.count() != 0 {
			t.Fatalf("exported before shutdown: %d spans, %d logs, %d metrics", spans.count(), logs.count(), metrics.count())
		}
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if spans.count() != 1 || logs.count() != 1 || metrics.count() != 1 {
			t.Errorf("after shutdown: %d spans, %d logs, %d metrics; want 1 of each", spans.count(), logs.count(), metrics.count())
		}
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
		if spans.shutdown != 1 {
			t.Errorf("exporter shut down %d times, want 1", spans.shutdown)
		}
	})
}

func TestShutdownRunsInParallel(t *testing.T) {
	clearOTelEnv(t)
	synctest.Test(t, func(t *testing.T) {
		tel, err := Setup(context.Background(), WithoutGlobal(),
			WithSpanExporter(&spanRecorder{delay: time.Second}),
			WithLogExporter(&logRecorder{delay: time.Second}),
			WithMetricReader(sdkmetric.NewPeriodicReader(&metricRecorder{delay: time.Second})))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("three 1 s shutdowns took %v, want 1s", d)
		}
	})
}

func TestShutdownIsBounded(t *testing.T) {
	clearOTelEnv(t)
	synctest.Test(t, func(t *testing.T) {
		tel, err := Setup(context.Background(), WithoutGlobal(), WithShutdownTimeout(2*time.Second),
			WithSpanExporter(&spanRecorder{}),
			WithLogExporter(&logRecorder{delay: time.Hour}), // ignores its context
			WithMetricReader(sdkmetric.NewPeriodicReader(&metricRecorder{delay: time.Hour})))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = tel.Shutdown(context.Background())
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Shutdown took %v, want the 2s bound", d)
		}
		if msg := fmt.Sprint(err); !errors.Is(err, context.DeadlineExceeded) ||
			!strings.Contains(msg, "logs") || !strings.Contains(msg, "metrics") || strings.Contains(msg, "traces") {
			t.Errorf("err = %v, want a deadline error naming logs and metrics, not traces", err)
		}
		time.Sleep(time.Hour) // let the abandoned exporter finish inside the bubble
	})
}

func TestShutdownHonoursAnEarlierDeadline(t *testing.T) {
	clearOTelEnv(t)
	synctest.Test(t, func(t *testing.T) {
		tel, err := Setup(context.Background(), WithoutGlobal(), WithSpanExporter(&spanRecorder{delay: time.Minute}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_ = tel.Shutdown(ctx)
		if d := time.Since(start); d != time.Second {
			t.Errorf("Shutdown took %v, want the context's 1s", d)
		}
		time.Sleep(time.Minute)
	})
}

func TestSDKDisabledIgnoresOptions(t *testing.T) {
	clearOTelEnv(t)
	restoreGlobals(t)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	before := otel.GetTracerProvider()
	tel, err := Setup(context.Background(), WithSpanExporter(&spanRecorder{}), WithLocalTraceIDs())
	if err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before || len(tel.parts) != 0 {
		t.Error("a disabled SDK installed something")
	}
	if _, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "s"); span.SpanContext().IsValid() {
		t.Error("a disabled SDK makes trace ids")
	}
	for _, v := range []string{"false", "1", "yes"} {
		t.Setenv("OTEL_SDK_DISABLED", v)
		tel, err := Setup(context.Background(), WithoutGlobal(), WithSpanExporter(&spanRecorder{}))
		if err != nil {
			t.Fatal(err)
		}
		if len(tel.parts) != 1 {
			t.Errorf("OTEL_SDK_DISABLED=%s disabled the SDK", v)
		}
		_ = tel.Shutdown(context.Background())
	}
}

func TestSDKDisabledStillPropagates(t *testing.T) {
	clearOTelEnv(t)
	restoreGlobals(t)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	t.Setenv("OTEL_PROPAGATORS", "b3")
	tel, err := Setup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f := tel.Propagator().Fields(); !contains(f, "b3") {
		t.Errorf("Propagator fields = %v, want b3: OTEL_SDK_DISABLED does not apply to propagators", f)
	}
	if f := otel.GetTextMapPropagator().Fields(); !contains(f, "b3") {
		t.Errorf("global propagator fields = %v, want b3", f)
	}
}

func TestLocalTraceIDsWithoutExport(t *testing.T) {
	clearOTelEnv(t)
	tel, err := Setup(context.Background(), WithoutGlobal(), WithLocalTraceIDs())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "s")
	if !span.SpanContext().IsValid() || span.IsRecording() || span.SpanContext().IsSampled() {
		t.Errorf("span context %v, recording %v: want ids, nothing recorded", span.SpanContext(), span.IsRecording())
	}
	if len(tel.parts) != 0 {
		t.Error("local trace ids need no shutdown")
	}
}

func TestEnvironmentOverridesServiceNameFromCode(t *testing.T) {
	clearOTelEnv(t)
	res := func() *resource.Resource {
		r, err := newResource(context.Background(), setupConfig{serviceName: "from-code", serviceVersion: "1",
			attrs: []attribute.KeyValue{attribute.String("team", "a")}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	get := func(r *resource.Resource, k string) string {
		v, _ := r.Set().Value(attribute.Key(k))
		return v.AsString()
	}
	if r := res(); get(r, "service.name") != "from-code" || get(r, "team") != "a" {
		t.Errorf("service.name = %q, team = %q", get(r, "service.name"), get(r, "team"))
	}
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,team=b")
	if r := res(); get(r, "service.name") != "from-attrs" || get(r, "team") != "b" {
		t.Errorf("with OTEL_RESOURCE_ATTRIBUTES: service.name = %q, team = %q", get(r, "service.name"), get(r, "team"))
	}
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	if r := res(); get(r, "service.name") != "from-env" {
		t.Errorf("with OTEL_SERVICE_NAME: service.name = %q", get(r, "service.name"))
	}
	clearOTelEnv(t)
	r, err := newResource(context.Background(), setupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(get(r, "service.name"), "unknown_service:") {
		t.Errorf("default service.name = %q, want unknown_service:<executable>", get(r, "service.name"))
	}
}

func TestZeroTelemetryIsUsable(t *testing.T) {
	var tel *Telemetry
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	tel = new(Telemetry)
	_ = tel.TracerProvider().Tracer("t")
	_ = tel.MeterProvider().Meter("t")
	_ = tel.LoggerProvider().Logger("t")
	_ = tel.Propagator().Fields()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
