package idempotency_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
)

// logTag marks the contexts of one test's requests, so that taggedLog keeps
// only their records, whatever else logs at the same time.
type logTag struct{}

// taggedLog is a slog.Handler that keeps the text of the records logged
// with a context carrying logTag.
type taggedLog struct {
	mu    sync.Mutex
	lines []string
}

func (h *taggedLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *taggedLog) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h *taggedLog) WithGroup(string) slog.Handler { return h }

func (h *taggedLog) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil || ctx.Value(logTag{}) == nil {
		return nil
	}
	var b strings.Builder
	_ = slog.NewTextHandler(&b, nil).Handle(ctx, r)
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}

func (h *taggedLog) records() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.lines)
}

// A failure is logged once, to Options.Logger, without the key or the
// caller's credentials: the default ErrorHandler does not log again (as
// problem.Write would, to slog.Default()).
func TestOneLogRecordPerFailure(t *testing.T) {
	const auth = "Bearer secret-token-of-alice"
	tests := []struct {
		name    string
		store   func() idempotency.Store
		scope   idempotency.ScopeFunc
		status  int
		records int
	}{
		{"store outage", func() idempotency.Store {
			s := &failingStore{Store: newMemory(t, nil)}
			s.down.Store(true)
			return s
		}, nil, http.StatusServiceUnavailable, 1},
		{"invalid stored response", func() idempotency.Store {
			return corruptStore{Store: newMemory(t, nil), status: 0}
		}, nil, http.StatusServiceUnavailable, 1},
		{"invalid claim outcome", func() idempotency.Store {
			return badOutcomeStore{Store: newMemory(t, nil)}
		}, nil, http.StatusServiceUnavailable, 1},
		{"scope function error", func() idempotency.Store { return newMemory(t, nil) },
			func(*http.Request) (string, error) { return "", errors.New("auth backend down") }, http.StatusInternalServerError, 1},
		{"scope function client error", func() idempotency.Store { return newMemory(t, nil) },
			func(*http.Request) (string, error) { return "", problem.New(http.StatusUnauthorized, "who are you") }, http.StatusUnauthorized, 0},
		{"bad key", func() idempotency.Store { return newMemory(t, nil) }, nil, http.StatusBadRequest, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			own, def := &taggedLog{}, &taggedLog{}
			old := slog.Default()
			slog.SetDefault(slog.New(def))
			t.Cleanup(func() { slog.SetDefault(old) })
			spy := &keySpy{Store: tc.store()}
			m := idempotency.New(spy, tc.scope, idempotency.Options{Logger: slog.New(own)})
			q := req{auth: auth}
			if tc.name == "bad key" {
				q.keys = []string{"short"}
			}
			r := q.build()
			r = r.WithContext(context.WithValue(r.Context(), logTag{}, true))
			rec := serve2(m.Handler(&counter{}), r)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %q", rec.Code, tc.status, rec.Body)
			}
			if got := def.records(); len(got) != 0 {
				t.Errorf("slog.Default() got %d records, want none (Options.Logger is set): %q", len(got), got)
			}
			got := own.records()
			if len(got) != tc.records {
				t.Fatalf("Options.Logger got %d records, want %d: %q", len(got), tc.records, got)
			}
			for _, line := range got {
				for _, secret := range []string{testKey, "secret-token", spy.key.ID, spy.key.Scope} {
					if secret != "" && strings.Contains(line, secret) {
						t.Errorf("log record holds %q: %s", secret, line)
					}
				}
			}
		})
	}
}

// During a store outage every request fails the same way. The middleware
// writes at most one record a second, with the number left out, so an
// outage at 10,000 requests a second is not 10,000 ERROR records a second.
// In a synctest bubble time stands still until the test sleeps, so the
// counts are exact.
func TestStoreOutageLogIsRateLimited(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(map[bool]string{false: "fail closed", true: "fail open"}[failOpen], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &failingStore{Store: newMemory(t, nil)}
				st.down.Store(true)
				logs := &taggedLog{}
				m := idempotency.New(st, nil, idempotency.Options{Logger: slog.New(logs), FailOpen: failOpen})
				h := m.Handler(&counter{})
				want := http.StatusServiceUnavailable
				if failOpen {
					want = http.StatusCreated
				}
				send := func(n int) {
					for range n {
						r := req{}.build()
						r = r.WithContext(context.WithValue(r.Context(), logTag{}, true))
						if rec := serve2(h, r); rec.Code != want {
							t.Fatalf("status = %d, want %d", rec.Code, want)
						}
					}
				}
				send(50)
				if got := logs.records(); len(got) != 1 || !strings.Contains(got[0], "suppressed=0") {
					t.Fatalf("after 50 failures in one instant: %d records, the first %q; want 1 with suppressed=0", len(got), got[:min(1, len(got))])
				}
				time.Sleep(999 * time.Millisecond)
				send(1)
				if got := logs.records(); len(got) != 1 {
					t.Fatalf("within the second: %d records, want still 1", len(got))
				}
				time.Sleep(time.Millisecond)
				send(1)
				got := logs.records()
				if len(got) != 2 || !strings.Contains(got[1], "suppressed=50") {
					t.Fatalf("a second later: %d records %q; want 2, the second with suppressed=50", len(got), got)
				}
			})
		})
	}
}
