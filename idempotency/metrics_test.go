package idempotency_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/backstop-go/backstop/idempotency"
)

// fakeMeter records counter additions by their idempotency.outcome.
type fakeMeter struct {
	noop.MeterProvider
	mu     sync.Mutex
	counts map[string]int64
}

type fakeMeterMeter struct {
	noop.Meter
	p *fakeMeter
}

type fakeCounter struct {
	noop.Int64Counter
	p *fakeMeter
}

func (p *fakeMeter) Meter(string, ...metric.MeterOption) metric.Meter {
	return fakeMeterMeter{p: p}
}

func (m fakeMeterMeter) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return fakeCounter{p: m.p}, nil
}

func (c fakeCounter) Add(_ context.Context, n int64, opts ...metric.AddOption) {
	cfg := metric.NewAddConfig(opts)
	set := cfg.Attributes()
	v, _ := set.Value(attribute.Key("idempotency.outcome"))
	c.p.mu.Lock()
	c.p.counts[v.AsString()] += n
	c.p.mu.Unlock()
}

func TestMetrics(t *testing.T) {
	mp := &fakeMeter{counts: map[string]int64{}}
	c := &counter{}
	store := newMemory(t, nil)
	h := newMW(t, store, idempotency.Options{MeterProvider: mp, MaxRecordsPerScope: 1}).Handler(c)
	serve(h, req{})                                         // executed
	serve(h, req{})                                         // replayed
	serve(h, req{})                                         // replayed
	serve(h, req{body: "x"})                                // mismatch
	serve(h, req{keys: []string{"short"}})                  // rejected
	serve(h, req{keys: []string{"another-key-0123456789"}}) // over_budget
	serve(h, req{method: http.MethodGet})                   // not covered: not counted
	silent := newMW(t, store, idempotency.Options{MeterProvider: mp}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve(silent, req{auth: "Bearer bob"}) // executed (then released: nothing written), counted once
	want := map[string]int64{"executed": 2, "replayed": 2, "mismatch": 1, "rejected": 1, "over_budget": 1}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if len(mp.counts) != len(want) {
		t.Fatalf("counts = %v, want %v", mp.counts, want)
	}
	for k, v := range want {
		if mp.counts[k] != v {
			t.Fatalf("counts = %v, want %v", mp.counts, want)
		}
	}
}

// fakeSpan records the attributes set on it.
type fakeSpan struct {
	tracenoop.Span
	mu    sync.Mutex
	attrs map[attribute.Key]attribute.Value
}

func (s *fakeSpan) IsRecording() bool { return true }
func (s *fakeSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range kv {
		s.attrs[a.Key] = a.Value
	}
}

func TestSpanAttributes(t *testing.T) {
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(&counter{})
	for _, want := range []string{"executed", "replayed"} {
		span := &fakeSpan{attrs: map[attribute.Key]attribute.Value{}}
		r := req{}.build()
		r = r.WithContext(trace.ContextWithSpan(r.Context(), span))
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got := span.attrs["idempotency.outcome"].AsString(); got != want {
			t.Fatalf("outcome = %q, want %q", got, want)
		}
		if _, ok := span.attrs["idempotency.fence"]; ok != (want == "executed") {
			t.Fatalf("fence attribute present = %v for %s", ok, want)
		}
	}
}

// A response the middleware did not see is marked on the span, so that a
// router writing around the middleware shows in traces.
func TestSpanMarksUnrecordedResponse(t *testing.T) {
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	span := &fakeSpan{attrs: map[attribute.Key]attribute.Value{}}
	r := req{}.build()
	h.ServeHTTP(httptest.NewRecorder(), r.WithContext(trace.ContextWithSpan(r.Context(), span)))
	if v, ok := span.attrs["idempotency.unrecorded"]; !ok || !v.AsBool() {
		t.Fatalf("span attributes %v, want idempotency.unrecorded=true", span.attrs)
	}
}
