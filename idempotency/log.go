package idempotency

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// outcome is what the middleware did with a covered request, for metrics
// and traces.
type outcome uint8

const (
	outExecuted outcome = iota
	outTakeover
	outReplayed
	outInFlight
	outMismatch
	outNotReplayable
	outOverBudget
	outRejected
	outStoreError
	outFailOpen
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"executed", "takeover", "replayed", "in_flight", "mismatch", "not_replayable", "over_budget", "rejected", "store_error", "fail_open"}

// record counts o, one per covered request, and sets it on the request's
// span.
func (m *Middleware) record(ctx context.Context, o outcome, fence int64) {
	m.counter.Add(ctx, 1, m.outcomeSet[o]...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		if o == outExecuted || o == outTakeover {
			span.SetAttributes(attribute.String("idempotency.outcome", outcomeNames[o]), attribute.Int64("idempotency.fence", fence))
		} else {
			span.SetAttributes(attribute.String("idempotency.outcome", outcomeNames[o]))
		}
	}
}

// log writes one record to Options.Logger. Of the record (whose ID is a
// hash of scope and key) it shows the first 16 hex digits of the ID,
// enough to follow one record through the logs.
func (m *Middleware) log(ctx context.Context, level slog.Level, msg string, key RecordKey, err error, extra ...slog.Attr) {
	l := m.opts.Logger
	if l == nil {
		l = slog.Default()
	}
	attrs := make([]slog.Attr, 0, 2+len(extra))
	if id := key.ID; id != "" {
		if len(id) > 16 {
			id = id[:16]
		}
		attrs = append(attrs, slog.String("record", id))
	}
	attrs = append(attrs, slog.Any("error", err))
	l.LogAttrs(ctx, level, msg, append(attrs, extra...)...)
}

// logStoreFailure logs a store failure that a request ran into. During an
// outage every request runs into one, so at most one record a second is
// written, with the number left out since the previous one.
func (m *Middleware) logStoreFailure(ctx context.Context, level slog.Level, msg string, key RecordKey, err error) {
	if suppressed, ok := m.storeLog.Allow(time.Now(), time.Second); ok {
		m.log(ctx, level, msg, key, err, slog.Int64("suppressed", suppressed))
	}
}
