package health_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/backstop-go/backstop/health"
)

// flipping is a check whose outcome the test sets.
type flipping struct {
	mu  sync.Mutex
	err error
}

func (f *flipping) set(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *flipping) check(context.Context) error { f.mu.Lock(); defer f.mu.Unlock(); return f.err }

// logRecords collects log records.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

func attrOf(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

func TestStatusChangesReachOnChangeAndLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []health.Change
		logs := &logRecords{}
		reg := health.New(health.Options{
			TTL:      -1,
			Logger:   slog.New(logs),
			OnChange: func(c health.Change) { changes = append(changes, c) },
		})
		defer reg.Close()
		f := &flipping{}
		reg.Register("db", f.check, health.CheckOptions{})
		down := errors.New("connection refused")
		for _, err := range []error{nil, nil, down, down, nil} {
			f.set(err)
			reg.Check(t.Context(), health.Ready)
			time.Sleep(time.Second)
		}
		want := []struct{ from, to health.Status }{
			{health.StatusUnknown, health.StatusPass},
			{health.StatusPass, health.StatusFail},
			{health.StatusFail, health.StatusPass},
		}
		if len(changes) != len(want) {
			t.Fatalf("%d changes, want %d: %+v", len(changes), len(want), changes)
		}
		for i, w := range want {
			c := changes[i]
			if c.Check != "db" || c.From != w.from || c.To != w.to {
				t.Errorf("change %d: %+v, want %v -> %v", i, c, w.from, w.to)
			}
		}
		if !errors.Is(changes[1].Err, down) || !changes[1].Time.Equal(time.Date(2000, 1, 1, 0, 0, 2, 0, time.UTC)) {
			t.Errorf("failing change: err %v at %v", changes[1].Err, changes[1].Time)
		}
		if len(logs.records) != 3 {
			t.Fatalf("%d log records, want one per change", len(logs.records))
		}
		fail := logs.records[1]
		if fail.Level != slog.LevelWarn || attrOf(fail, "check") != "db" || attrOf(fail, "error") != "connection refused" {
			t.Errorf("failure record: %v %q check=%q error=%q", fail.Level, fail.Message, attrOf(fail, "check"), attrOf(fail, "error"))
		}
		if r := logs.records[2]; r.Level != slog.LevelInfo || attrOf(r, "status") != "pass" {
			t.Errorf("recovery record: %v %q", r.Level, r.Message)
		}
	})
}

func TestOptionalCheckChangesToWarn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []health.Change
		reg := newRegistry(t, health.Options{OnChange: func(c health.Change) { changes = append(changes, c) }})
		reg.Register("search", func(context.Context) error { return errors.New("down") }, health.CheckOptions{Optional: true})
		reg.Check(t.Context(), health.Ready)
		if len(changes) != 1 || changes[0].To != health.StatusWarn {
			t.Errorf("changes %+v, want one to warn", changes)
		}
	})
}

func TestDrainIsLogged(t *testing.T) {
	logs := &logRecords{}
	reg := newRegistry(t, health.Options{Logger: slog.New(logs)})
	reg.Drain()
	reg.Drain()
	if len(logs.records) != 1 || logs.records[0].Level != slog.LevelInfo {
		t.Errorf("%d records for two Drain calls, want one", len(logs.records))
	}
}

// fakeMeter records histogram values by check and status, and keeps the
// gauge callback to collect on demand.
type fakeMeter struct {
	noop.Meter
	mu        sync.Mutex
	name      string
	durations map[[2]string][]float64
	callback  metric.Callback
}

type fakeProvider struct {
	noop.MeterProvider
	m *fakeMeter
}

func (p fakeProvider) Meter(name string, _ ...metric.MeterOption) metric.Meter {
	p.m.name = name
	return p.m
}

type fakeHistogram struct {
	noop.Float64Histogram
	m *fakeMeter
}

func (m *fakeMeter) Float64Histogram(name string, _ ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	if name != "backstop.health.check.duration" {
		return noop.Float64Histogram{}, nil
	}
	return fakeHistogram{m: m}, nil
}

func (m *fakeMeter) RegisterCallback(f metric.Callback, _ ...metric.Observable) (metric.Registration, error) {
	m.callback = f
	return noop.Registration{}, nil
}

func (h fakeHistogram) Record(_ context.Context, v float64, opts ...metric.RecordOption) {
	set := metric.NewRecordConfig(opts).Attributes()
	check, _ := set.Value(attribute.Key("backstop.health.check"))
	status, _ := set.Value(attribute.Key("backstop.health.result"))
	h.m.mu.Lock()
	h.m.durations[[2]string{check.AsString(), status.AsString()}] = append(h.m.durations[[2]string{check.AsString(), status.AsString()}], v)
	h.m.mu.Unlock()
}

// gaugeObserver collects the status gauge by check.
type gaugeObserver struct {
	noop.Observer
	values map[string]int64
}

func (o *gaugeObserver) ObserveInt64(_ metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	set := metric.NewObserveConfig(opts).Attributes()
	check, _ := set.Value(attribute.Key("backstop.health.check"))
	o.values[check.AsString()] = v
}

func TestMetricsRecordDurationAndStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeMeter{durations: map[[2]string][]float64{}}
		reg := newRegistry(t, health.Options{MeterProvider: fakeProvider{m: m}, TTL: -1})
		g := newGate()
		reg.Register("db", func(context.Context) error { time.Sleep(30 * time.Millisecond); return nil }, health.CheckOptions{})
		reg.Register("cache", func(context.Context) error { return errors.New("down") }, health.CheckOptions{})
		reg.Register("hung", g.check, health.CheckOptions{Timeout: 100 * time.Millisecond})
		for range 3 {
			reg.Check(t.Context(), health.Ready)
		}
		if m.name != "github.com/backstop-go/backstop/health" {
			t.Errorf("meter %q", m.name)
		}
		want := map[[2]string][]float64{
			{"db", "pass"}:      {0.03, 0.03, 0.03},
			{"cache", "fail"}:   {0, 0, 0},
			{"hung", "timeout"}: {0.1}, // one run, recorded once
		}
		for k, w := range want {
			got := m.durations[k]
			if len(got) != len(w) {
				t.Errorf("%v: %v, want %v", k, got, w)
				continue
			}
			for i := range w {
				if got[i] != w[i] {
					t.Errorf("%v: %v, want %v", k, got, w)
				}
			}
		}
		if len(m.durations) != len(want) {
			t.Errorf("recorded %v, want only %v", m.durations, want)
		}
		o := &gaugeObserver{values: map[string]int64{}}
		if err := m.callback(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if o.values["db"] != 1 || o.values["cache"] != 0 || o.values["hung"] != 0 || len(o.values) != 3 {
			t.Errorf("status gauge %v, want db 1, cache 0, hung 0", o.values)
		}
		g.open()
	})
}

// A Registry without a Logger logs to the slog default of the moment, not
// of New, with the record's level and attributes. (Not parallel: it sets
// the process's default logger.)
func TestNilLoggerIsTheDefaultAtLogTime(t *testing.T) {
	reg := health.New(health.Options{})
	var logs strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	reg.Drain()
	if !strings.Contains(logs.String(), `level=INFO msg="health: draining; readiness fails from now on" drain_delay=`) {
		t.Fatalf("the default set after New got %q, want the record itself", logs.String())
	}
}
