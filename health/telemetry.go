package health

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Metric names and attributes. Check names are bounded: they come from
// Register, never from requests.
const (
	meterName      = "github.com/backstop-go/backstop/health"
	durationMetric = "backstop.health.check.duration"
	statusMetric   = "backstop.health.check.status"
	attrCheck      = "backstop.health.check"
	attrStatus     = "backstop.health.result"
)

// telemetry holds a registry's instruments.
type telemetry struct {
	duration metric.Float64Histogram
	status   metric.Int64ObservableGauge
	callback metric.Registration // nil when registering failed
}

func newTelemetry(mp metric.MeterProvider, r *Registry) telemetry {
	meter := mp.Meter(meterName)
	var t telemetry
	var err error
	t.duration, err = meter.Float64Histogram(durationMetric,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of health check runs, by check and status (pass, fail, timeout)."))
	if err != nil {
		t.duration = noop.Float64Histogram{}
	}
	t.status, err = meter.Int64ObservableGauge(statusMetric,
		metric.WithUnit("1"),
		metric.WithDescription("1 while a health check passes, 0 while it fails or has no result."))
	if err != nil {
		return t
	}
	t.callback, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r.mu.Lock()
		cs := make([]*check, 0, len(r.names))
		for _, c := range r.names {
			cs = append(cs, c)
		}
		r.mu.Unlock()
		for _, c := range cs {
			v := int64(0)
			if res := c.last.Load(); res != nil && res.err == nil &&
				(c.interval == 0 || res.at.Add(c.staleAfter()).After(time.Now())) {
				v = 1
			}
			o.ObserveInt64(t.status, v, c.tel.observe...)
		}
		return nil
	}, t.status)
	return t
}

func (t *telemetry) close() {
	if t.callback != nil {
		_ = t.callback.Unregister()
	}
}

// checkTelemetry holds one check's prebuilt attribute sets: passing a
// prebuilt slice with ... allocates nothing per recording.
type checkTelemetry struct {
	duration             metric.Float64Histogram
	pass, fail, timedOut []metric.RecordOption
	observe              []metric.ObserveOption
}

func (t *telemetry) forCheck(name string) checkTelemetry {
	set := func(status string) []metric.RecordOption {
		return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String(attrCheck, name), attribute.String(attrStatus, status)))}
	}
	return checkTelemetry{
		duration: t.duration,
		pass:     set("pass"),
		fail:     set("fail"),
		timedOut: set("timeout"),
		observe:  []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(attrCheck, name)))},
	}
}

// record records one run's duration.
func (t *checkTelemetry) record(res *result) {
	opts := t.pass
	switch {
	case errors.Is(res.err, ErrTimeout):
		opts = t.timedOut
	case res.err != nil:
		opts = t.fail
	}
	t.duration.Record(context.Background(), res.dur.Seconds(), opts...)
}

// logChange logs a check's status change, with the failure reason.
func (r *Registry) logChange(ch Change) {
	level, msg := slog.LevelInfo, "health: check passing"
	if ch.Err != nil {
		level, msg = slog.LevelWarn, "health: check failing"
	}
	ctx := context.Background()
	logger := r.logger()
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("check", ch.Check),
		slog.String("status", ch.To.String()),
		slog.String("previous", ch.From.String()),
	}
	if ch.Err != nil {
		attrs = append(attrs, slog.String("error", errorText(ch.Err)))
	}
	logger.LogAttrs(ctx, level, msg, attrs...)
}

// logger returns the Logger records go to: Options.Logger, else the
// default now.
func (r *Registry) logger() *slog.Logger {
	if r.opts.Logger != nil {
		return r.opts.Logger
	}
	return slog.Default()
}
