package otelx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// DefaultShutdownTimeout bounds [Telemetry.Shutdown] unless
// [WithShutdownTimeout] says otherwise.
const DefaultShutdownTimeout = 5 * time.Second

// Telemetry is what [Setup] installed: the providers of the signals that
// are exported, and the shutdown that flushes them. The zero value (and
// the Telemetry of a disabled SDK) has no-op providers and a Shutdown
// that does nothing. It is safe for concurrent use.
type Telemetry struct {
	tp      trace.TracerProvider
	mp      metric.MeterProvider
	lp      log.LoggerProvider
	prop    propagation.TextMapPropagator
	timeout time.Duration
	parts   []part // what Shutdown shuts down

	once sync.Once
	err  error
}

// part is one provider to shut down.
type part struct {
	signal   string
	shutdown func(context.Context) error
}

// Setup configures OpenTelemetry from the standard OTEL_* environment
// variables, read by the SDK and by contrib's autoexport and autoprop
// (none is parsed here), and installs it as the global providers and
// propagator unless [WithoutGlobal] is given.
//
// A signal (traces, metrics, logs) is exported when the environment asks
// for it: OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT
// is set, or OTEL_<SIGNAL>_EXPORTER names an exporter (otlp, console, and
// for metrics prometheus; none turns the signal off), or an option
// ([WithSpanExporter], [WithMetricReader], [WithLogExporter]) supplies
// one. OTLP goes over http/protobuf unless OTEL_EXPORTER_OTLP_PROTOCOL is
// grpc. Unlike the SDK's defaults, an unconfigured signal does not send to
// localhost:4318: it gets no provider at all, so that a program with no
// endpoint configured sends nothing and its instrumentation costs what
// the no-op API costs. Sampling (OTEL_TRACES_SAMPLER), batching
// (OTEL_BSP_*, OTEL_BLRP_*), the metric interval (OTEL_METRIC_EXPORT_*)
// and the exporters' endpoints, headers, timeouts, compression and TLS
// come from the environment as the SDK defines them.
//
// The resource holds service.name and service.version ([WithServiceName],
// [WithServiceVersion]), a service.instance.id, the host name, OS type,
// container id, process id, executable and Go runtime, the SDK's name and
// version, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which win.
// The command line is not recorded: it may hold secrets.
//
// The propagator is W3C tracecontext and baggage, or what OTEL_PROPAGATORS
// lists; it is installed even when nothing is exported, so that trace
// context still flows from callers to the services this one calls.
//
// When OTEL_SDK_DISABLED is "true" (which the Go SDK does not honour by
// itself), Setup installs nothing but the propagator (the variable does
// not apply to propagators), options included, and returns a Telemetry
// with no-op providers.
//
// Setup fails when an OTEL_*_EXPORTER variable names an unknown exporter
// or an exporter cannot be created; it then shuts down what it had created
// and installs nothing. An unknown name in OTEL_PROPAGATORS is reported
// through otel.Handle, and the default propagators (tracecontext, baggage)
// are used instead. It connects to nothing: exporters connect when they
// first export (OTEL_METRICS_EXPORTER=prometheus does open its listening
// port, OTEL_EXPORTER_PROMETHEUS_HOST:PORT, default localhost:9464).
func Setup(ctx context.Context, opts ...SetupOption) (*Telemetry, error) {
	c := setupConfig{shutdownTimeout: DefaultShutdownTimeout}
	for _, o := range opts {
		o.applySetup(&c)
	}
	t := &Telemetry{timeout: c.shutdownTimeout, prop: autoprop.NewTextMapPropagator()}
	if sdkDisabled() {
		// The specification: OTEL_SDK_DISABLED has no effect on the
		// propagators, so trace context still flows through.
		if !c.noGlobal {
			otel.SetTextMapPropagator(t.prop)
		}
		return t, nil
	}

	spanExp, err := configured(ctx, c.spanExporter, "TRACES",
		func(ctx context.Context) (sdktrace.SpanExporter, error) { return autoexport.NewSpanExporter(ctx) },
		autoexport.IsNoneSpanExporter)
	if err != nil {
		return nil, fmt.Errorf("otelx: traces: %w", err)
	}
	reader, err := configured(ctx, c.metricReader, "METRICS",
		func(ctx context.Context) (sdkmetric.Reader, error) { return autoexport.NewMetricReader(ctx) },
		autoexport.IsNoneMetricReader)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("otelx: metrics: %w", err), shutdownAll(ctx, spanExp))
	}
	logExp, err := configured(ctx, c.logExporter, "LOGS",
		func(ctx context.Context) (sdklog.Exporter, error) { return autoexport.NewLogExporter(ctx) },
		autoexport.IsNoneLogExporter)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("otelx: logs: %w", err), shutdownAll(ctx, spanExp, reader))
	}

	if spanExp != nil || reader != nil || logExp != nil || c.localTraceIDs {
		res, err := newResource(ctx, c)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("otelx: resource: %w", err), shutdownAll(ctx, spanExp, reader, logExp))
		}
		switch {
		case spanExp != nil:
			tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(spanExp))
			t.tp = tp
			t.parts = append(t.parts, part{"traces", tp.Shutdown})
		case c.localTraceIDs:
			// Ids for every request, nothing recorded: no processor, no
			// goroutine, nothing to shut down.
			t.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.NeverSample()))
		}
		if reader != nil {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
			t.mp = mp
			t.parts = append(t.parts, part{"metrics", mp.Shutdown})
		}
		if logExp != nil {
			lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp)))
			t.lp = lp
			t.parts = append(t.parts, part{"logs", lp.Shutdown})
		}
	}

	if !c.noGlobal {
		otel.SetTextMapPropagator(t.prop)
		if t.tp != nil {
			otel.SetTracerProvider(t.tp)
		}
		if t.mp != nil {
			otel.SetMeterProvider(t.mp)
		}
		if t.lp != nil {
			otel.SetLoggerProvider(t.lp)
		}
	}
	return t, nil
}

// sdkDisabled reports whether OTEL_SDK_DISABLED is "true"; the
// specification makes any other value mean false.
func sdkDisabled() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true")
}

// envExports reports whether the environment asks for signal ("TRACES",
// "METRICS" or "LOGS") to be exported. It only looks at which variables
// are set; autoexport and the exporters read their values.
func envExports(signal string) bool {
	if v := os.Getenv("OTEL_" + signal + "_EXPORTER"); v != "" {
		return v != "none"
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// configured returns given when an option supplied it, else what the
// environment configures for signal, or the zero T (nil) when it
// configures nothing or "none".
func configured[T comparable](ctx context.Context, given T, signal string,
	create func(context.Context) (T, error), none func(T) bool) (T, error) {
	var zero T
	if given != zero {
		return given, nil
	}
	if !envExports(signal) {
		return zero, nil
	}
	e, err := create(ctx)
	if err != nil || none(e) {
		return zero, err
	}
	return e, nil
}

// shutdownAll releases what a failed Setup had created.
func shutdownAll(ctx context.Context, parts ...interface{ Shutdown(context.Context) error }) error {
	var errs []error
	for _, p := range parts {
		if p != nil { // a nil exporter converts to a nil interface
			errs = append(errs, p.Shutdown(ctx))
		}
	}
	return errors.Join(errs...)
}

func newResource(ctx context.Context, c setupConfig) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	if c.serviceName != "" {
		attrs = append(attrs, semconv.ServiceName(c.serviceName))
	}
	version := c.serviceVersion
	if version == "" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	if version != "" {
		attrs = append(attrs, semconv.ServiceVersion(version))
	}
	attrs = append(attrs, c.attrs...)
	// Later options win over earlier ones: defaults, then the code's
	// choices, then the environment.
	res, err := resource.New(ctx,
		resource.WithService(), // service.instance.id, unknown_service:<executable>
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithOSType(),
		resource.WithContainer(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if errors.Is(err, resource.ErrPartialResource) {
		// A detector that found nothing (no container, say) leaves its
		// attributes out; the rest is good.
		otel.Handle(err)
		err = nil
	}
	return res, err
}

// Shutdown flushes and stops every provider Setup created, in parallel,
// and returns when all are done or when the shutdown timeout (or ctx's
// deadline, if sooner) passes; a provider still flushing then is
// abandoned and its signal reported in the error. Call it once the server
// has stopped serving, so that the last spans and logs are exported.
// Later calls return the first call's result. Export errors are worth a
// log line, not a failed exit.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.once.Do(func() { t.err = t.shutdown(ctx) })
	return t.err
}

func (t *Telemetry) shutdown(ctx context.Context) error {
	if len(t.parts) == 0 {
		return nil
	}
	timeout := t.timeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		i   int
		err error
	}
	done := make(chan result, len(t.parts)) // buffered: an abandoned part still finishes
	for i, p := range t.parts {
		go func() { done <- result{i, p.shutdown(ctx)} }()
	}
	errs := make([]error, len(t.parts))
	finished := make([]bool, len(t.parts))
	for range t.parts {
		select {
		case r := <-done:
			finished[r.i] = true
			if r.err != nil {
				errs[r.i] = fmt.Errorf("otelx: shutting down %s: %w", t.parts[r.i].signal, r.err)
			}
		case <-ctx.Done():
			for i, f := range finished {
				if !f {
					errs[i] = fmt.Errorf("otelx: shutting down %s: %w", t.parts[i].signal, context.Cause(ctx))
				}
			}
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// TracerProvider returns the tracer provider Setup created, or a no-op
// provider when traces are not exported (and [WithLocalTraceIDs] was not
// given).
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t == nil || t.tp == nil {
		return tracenoop.NewTracerProvider()
	}
	return t.tp
}

// MeterProvider returns the meter provider Setup created, or a no-op
// provider when metrics are not exported.
func (t *Telemetry) MeterProvider() metric.MeterProvider {
	if t == nil || t.mp == nil {
		return metricnoop.NewMeterProvider()
	}
	return t.mp
}

// LoggerProvider returns the OpenTelemetry logger provider Setup created
// (for the otelslog bridge), or a no-op provider when logs are not
// exported.
func (t *Telemetry) LoggerProvider() log.LoggerProvider {
	if t == nil || t.lp == nil {
		return lognoop.NewLoggerProvider()
	}
	return t.lp
}

// Propagator returns the propagator Setup chose (a no-op one for the zero
// Telemetry).
func (t *Telemetry) Propagator() propagation.TextMapPropagator {
	if t == nil || t.prop == nil {
		return propagation.NewCompositeTextMapPropagator()
	}
	return t.prop
}
