package ratelimit

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/backstop-go/backstop/internal/lograte"
)

// telemetry counts decisions, records span events and logs failures, none
// of which ever carries a key.
type telemetry struct {
	counter metric.Int64Counter
	// Prebuilt option slices: passing a slice with ... allocates nothing,
	// while a single variadic argument would be boxed per call.
	allowedSet [][]metric.AddOption // per policy
	deniedSet  [][]metric.AddOption // per policy
	errorSet   []metric.AddOption
	costSet    []metric.AddOption

	failLog lograte.Limiter // limiter failures: one record a second
	costLog lograte.Limiter // Cost errors: one record a second
}

func (t *telemetry) init(opts Options, policies []Policy) {
	meter := opts.MeterProvider.Meter("github.com/backstop-go/backstop/ratelimit")
	c, err := meter.Int64Counter("backstop.ratelimit.requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("Rate-limit decisions by result (allowed, denied, error) and binding policy."))
	if err != nil {
		// A broken MeterProvider must not take rate limiting down with it.
		opts.logger().Warn("ratelimit: no decision counter", slog.String("error", err.Error()))
		c = noop.Int64Counter{}
	}
	t.counter = c
	dry := attribute.Bool("backstop.ratelimit.dry_run", opts.DryRun)
	for _, p := range policies {
		pol := attribute.String("backstop.ratelimit.policy", p.Name)
		t.allowedSet = append(t.allowedSet, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("backstop.ratelimit.result", "allowed"), pol, dry))})
		t.deniedSet = append(t.deniedSet, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("backstop.ratelimit.result", "denied"), pol, dry))})
	}
	t.errorSet = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("backstop.ratelimit.result", "error"),
		attribute.String("backstop.ratelimit.failure_policy", opts.OnError.String()), dry))}
	t.costSet = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("backstop.ratelimit.result", "error"),
		attribute.String("error.type", "invalid_cost"), dry))}
}

// The decision as a span attribute, with the metric's values; prebuilt
// slices passed with ... allocate nothing.
var (
	spanAllowed = []attribute.KeyValue{attribute.String("backstop.ratelimit.result", "allowed")}
	spanDenied  = []attribute.KeyValue{attribute.String("backstop.ratelimit.result", "denied")}
	spanError   = []attribute.KeyValue{attribute.String("backstop.ratelimit.result", "error")}
)

// allowed counts an admission by policy b.
func (m *Middleware) allowed(ctx context.Context, b int) {
	m.tel.counter.Add(ctx, 1, m.tel.allowedSet[b]...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(spanAllowed...)
	}
}

// fail records a Limiter failure and reports whether the fallback limiter
// should decide.
func (m *Middleware) fail(ctx context.Context, err error) bool {
	now := time.Now().UnixNano()
	// A request whose own deadline passed is no sign of an outage: pausing
	// the Limiter for everyone would let any such request switch limiting
	// off.
	if err != errCircuitOpen && ctx.Err() == nil && m.opts.RetryStoreAfter > 0 {
		m.retryAt.Store(now + int64(m.opts.RetryStoreAfter))
	}
	m.tel.counter.Add(ctx, 1, m.tel.errorSet...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(spanError...)
		span.AddEvent("backstop.ratelimit.error", trace.WithAttributes(
			attribute.String("backstop.ratelimit.failure_policy", m.opts.OnError.String())))
	}
	if err != errCircuitOpen {
		if suppressed, ok := m.tel.failLog.Allow(time.Unix(0, now), time.Second); ok {
			m.opts.logger().LogAttrs(ctx, slog.LevelWarn, "ratelimit: limiter failed",
				slog.String("error", err.Error()),
				slog.String("failure_policy", m.opts.OnError.String()),
				slog.Int64("suppressed", suppressed))
		}
	}
	return m.opts.OnError == FailLocal
}

// invalidCost records a negative cost from Options.Cost.
func (m *Middleware) invalidCost(ctx context.Context, err error) {
	m.tel.counter.Add(ctx, 1, m.tel.costSet...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(spanError...)
		span.AddEvent("backstop.ratelimit.error", trace.WithAttributes(attribute.String("error.type", "invalid_cost")))
	}
	if suppressed, ok := m.tel.costLog.Allow(time.Now(), time.Second); ok {
		m.opts.logger().LogAttrs(ctx, slog.LevelError, "ratelimit: Options.Cost returned a negative cost",
			slog.String("error", err.Error()),
			slog.Int64("suppressed", suppressed))
	}
}

func (m *Middleware) denied(ctx context.Context, d *Decision, b int, fellBack bool) {
	if b >= 0 && !fellBack { // a fallback decision was already counted as an error
		m.tel.counter.Add(ctx, 1, m.tel.deniedSet[b]...)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() && b >= 0 {
		if !fellBack { // a fallback decision was already marked an error
			span.SetAttributes(spanDenied...)
		}
		span.AddEvent("backstop.ratelimit.denied", trace.WithAttributes(
			attribute.String("backstop.ratelimit.policy", m.policies[b].Name),
			attribute.Int64("backstop.ratelimit.retry_after_ms", d.RetryAfter.Milliseconds()),
			attribute.Bool("backstop.ratelimit.dry_run", m.opts.DryRun)))
	}
}
