package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

// generous is the Timeout of tests that are not about timeouts. The
// default 50ms is a production figure; on a loaded CI machine running the
// race detector a first call (dial, HELLO, EVALSHA, NOSCRIPT, EVAL) can take
// longer, and a timed-out call would fail a test about something else. A
// positive Timeout still runs the shared-deadline code.
const generous = time.Minute

// fixedClock is a manual server clock for the script, starting at an
// instant aligned to every window the suite uses (2026-01-01T00:00:00Z).
type fixedClock struct{ us atomic.Int64 }

func newFixedClock() *fixedClock {
	c := &fixedClock{}
	c.us.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	return c
}

func (c *fixedClock) now() int64              { return c.us.Load() }
func (c *fixedClock) advance(d time.Duration) { c.us.Add(d.Microseconds()) }

func harness(client func(t *testing.T) redis.UniversalClient) limitertest.Harness {
	return limitertest.Harness{
		Kind: limitertest.SlidingWindow,
		New: func(t *testing.T, p []ratelimit.Policy) (ratelimit.Limiter, func(time.Duration)) {
			// The denied cache runs on local time, which the fake clock
			// does not move: it has its own tests.
			l, err := New(client(t), p, Options{Prefix: redistest.Prefix(t), DeniedCacheSize: -1, Timeout: -1})
			if err != nil {
				t.Fatal(err)
			}
			clock := newFixedClock()
			l.now = clock.now
			return l, clock.advance
		},
	}
}

func TestConformanceSingleNode(t *testing.T) {
	limitertest.Run(t, harness(func(t *testing.T) redis.UniversalClient { return redistest.Client(t) }))
}

func TestConformanceCluster(t *testing.T) {
	limitertest.Run(t, harness(func(t *testing.T) redis.UniversalClient { return redistest.Cluster(t) }))
}

// TestConformanceServerClock runs the suite on the Redis server's clock (no
// time travel: the checks needing it are skipped), with the denied cache on.
func TestConformanceServerClock(t *testing.T) {
	limitertest.Run(t, limitertest.Harness{
		Kind: limitertest.SlidingWindow,
		New: func(t *testing.T, p []ratelimit.Policy) (ratelimit.Limiter, func(time.Duration)) {
			l, err := New(redistest.Cluster(t), p, Options{Prefix: redistest.Prefix(t), Timeout: generous})
			if err != nil {
				t.Fatal(err)
			}
			return l, nil
		},
	})
}

func TestNewValidates(t *testing.T) {
	c := redistest.Client(t)
	ok := []ratelimit.Policy{ratelimit.PerMinute("m", 1)}
	for name, f := range map[string]func() error{
		"no policies":  func() error { _, err := New(c, nil, Options{}); return err },
		"brace prefix": func() error { _, err := New(c, ok, Options{Prefix: "a{b"}); return err },
		"bad window": func() error {
			_, err := New(c, []ratelimit.Policy{{Name: "x", Limit: 1, Window: 1500 * time.Millisecond}}, Options{})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: New accepted", name)
		}
	}
}

// TestTwoInstancesShareOneLimit: two clients (two app instances with their
// own connection pools) hammering one key admit exactly the limit between
// them.
func TestTwoInstancesShareOneLimit(t *testing.T) {
	const limit = 150
	prefix := redistest.Prefix(t)
	srv := redistest.NewServer(t)
	policies := []ratelimit.Policy{ratelimit.PerHour("h", limit), ratelimit.PerMinute("m", 1000)}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for inst := 0; inst < 2; inst++ {
		l, err := New(srv.Client(t), policies, Options{Prefix: prefix, Timeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 60; i++ {
					d, err := l.AllowN(context.Background(), "shared", 1)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						admitted.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	if got := admitted.Load(); got != limit {
		t.Fatalf("two instances admitted %d, want exactly %d", got, limit)
	}
}

type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func TestOneRoundTripPerDecision(t *testing.T) {
	client := redistest.NewServer(t).Client(t)
	hook := &countHook{}
	client.AddHook(hook)
	policies := []ratelimit.Policy{ratelimit.PerSecond("s", 5), ratelimit.PerHour("h", 1000)}
	l, err := New(client, policies, Options{DeniedCacheSize: -1, Timeout: generous})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := l.AllowN(ctx, "warm", 1); err != nil { // loads the script (EVALSHA, NOSCRIPT, EVAL)
		t.Fatal(err)
	}
	hook.n.Store(0)
	const decisions = 20
	for i := 0; i < decisions; i++ {
		if _, err := l.AllowN(ctx, "k", 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := hook.n.Load(); got != decisions {
		t.Fatalf("%d round trips for %d decisions of two policies, want exactly one each", got, decisions)
	}
}

func TestDeniedCacheSkipsRedis(t *testing.T) {
	client := redistest.NewServer(t).Client(t)
	hook := &countHook{}
	client.AddHook(hook)
	l, err := New(client, []ratelimit.Policy{ratelimit.PerMinute("m", 2)}, Options{Timeout: generous})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if d, err := l.AllowN(ctx, "k", 1); err != nil || !d.Allowed {
			t.Fatalf("request %d: %+v %v", i, d, err)
		}
	}
	first, err := l.AllowN(ctx, "k", 1)
	if err != nil || first.Allowed {
		t.Fatalf("over limit: %+v %v", first, err)
	}
	before := hook.n.Load()
	for i := 0; i < 50; i++ {
		d, err := l.AllowN(ctx, "k", 1)
		if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > first.RetryAfter {
			t.Fatalf("cached denial %d: %+v %v (first %v)", i, d, err, first.RetryAfter)
		}
	}
	if got := hook.n.Load() - before; got != 0 {
		t.Fatalf("%d round trips for cached denials, want 0", got)
	}
	// Other keys and cheaper peeks still go to Redis.
	if d, err := l.AllowN(ctx, "other", 1); err != nil || !d.Allowed {
		t.Fatalf("other key: %+v %v", d, err)
	}
	if d, err := l.AllowN(ctx, "k", 0); err != nil || d.Remaining != 0 {
		t.Fatalf("peek: %+v %v", d, err)
	}
	if got := hook.n.Load() - before; got != 2 {
		t.Fatalf("%d round trips, want 2", got)
	}
}

func TestDeniedCacheExpires(t *testing.T) {
	c := newDeniedCache(2)
	p := []ratelimit.Policy{ratelimit.PerMinute("m", 1)}
	// An hour, so the entries cannot expire on their own however slowly
	// the test runs (with 50ms, a test descheduled that long would see "not
	// cached"); expiry and the countdown are tested below by backdating
	// entries.
	d, err := ratelimit.NewDecision(p, []ratelimit.Result{{RetryAfter: time.Hour, Reset: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	c.put("a", 1, &d)
	if _, ok := c.get("a", 1, p); !ok {
		t.Fatal("fresh denial not cached")
	}
	if _, ok := c.get("a", 0+1, p); !ok {
		t.Fatal("same cost not answered")
	}
	c.put("b", 3, &d)
	if _, ok := c.get("b", 2, p); ok {
		t.Fatal("cheaper request answered from a denial of a costlier one")
	}
	c.put("c", 1, &d) // over capacity: something is evicted
	if len(c.m) > 2 {
		t.Fatalf("cache holds %d entries, cap 2", len(c.m))
	}
	c.m["a"] = deniedEntry{at: time.Now().Add(-time.Hour), until: time.Now().Add(-time.Minute), cost: 1}
	if _, ok := c.get("a", 1, p); ok {
		t.Fatal("expired denial answered")
	}
	// A denial of 1h given 10 minutes ago: about 50 minutes to go, never
	// more (it would be late) and, whatever the test's speed, not less than
	// 40 (early).
	ago := time.Now().Add(-10 * time.Minute)
	c.m["d"] = deniedEntry{at: ago, until: ago.Add(time.Hour), cost: 1, results: [ratelimit.MaxPolicies]ratelimit.Result{{RetryAfter: time.Hour, Reset: time.Hour}}}
	got, ok := c.get("d", 1, p)
	if !ok || got.Allowed || got.RetryAfter > 50*time.Minute || got.RetryAfter < 40*time.Minute || got.Reset != got.RetryAfter {
		t.Fatalf("cached denial 10 minutes into a 1h wait: ok=%v %+v", ok, got)
	}
}

func TestKeysShareOneSlot(t *testing.T) {
	l, err := New(redistest.Cluster(t), []ratelimit.Policy{
		ratelimit.PerSecond("a", 10), ratelimit.PerMinute("b", 10), ratelimit.PerHour("c", 10),
	}, Options{Prefix: redistest.Prefix(t), Timeout: generous})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "x", "}", "{", "a}b{c", "{user}", "ip:2001:db8::/64"} {
		if _, err := l.AllowN(context.Background(), key, 1); err != nil {
			t.Errorf("key %q: %v", key, err)
		}
	}
}

// TestOutage stops a real Redis under the middleware, checks each failure
// policy, then restarts it and checks that limiting resumes by itself.
func TestOutage(t *testing.T) {
	tests := []struct {
		policy     ratelimit.FailurePolicy
		downStatus []int // statuses for three requests while Redis is down
	}{
		{ratelimit.FailOpen, []int{200, 200, 200}},
		{ratelimit.FailClosed, []int{503, 503, 503}},
		{ratelimit.FailLocal, []int{200, 200, 429}},
	}
	for _, tc := range tests {
		t.Run(tc.policy.String(), func(t *testing.T) {
			srv := redistest.NewServer(t)
			client := srv.Client(t)
			// While the server is stopped its port refuses connections at
			// once (and srv.Client dials once per try), so the outage needs
			// no short Timeout; a short one could expire after the restart
			// on a loaded machine and turn Redis's answers into failures.
			l, err := New(client, []ratelimit.Policy{ratelimit.PerHour("h", 2)}, Options{Timeout: generous})
			if err != nil {
				t.Fatal(err)
			}
			m := ratelimit.New(l, func(*http.Request) string { return "k" },
				ratelimit.Options{OnError: tc.policy, RetryStoreAfter: -1,
					Logger: slog.New(slog.DiscardHandler), ErrorHandler: quietProblems})
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			do := func() *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
				return rec
			}
			if c := do().Code; c != 200 {
				t.Fatalf("before outage: %d", c)
			}
			srv.Stop(t)
			for i, want := range tc.downStatus {
				rec := do()
				if rec.Code != want {
					t.Fatalf("outage request %d: status %d, want %d; body %s", i, rec.Code, want, rec.Body)
				}
				if want == 503 && rec.Header().Get("Retry-After") != "1" {
					t.Fatalf("503 without Retry-After: 1")
				}
				if want == 200 && tc.policy == ratelimit.FailOpen && rec.Header().Get("RateLimit") != "" {
					t.Fatalf("fail-open answer claims a RateLimit state")
				}
			}
			srv.Restart(t)
			// The restarted server is empty: two fresh admissions, then a
			// denial decided by Redis. go-redis may spend a request
			// discovering its pooled connections died.
			codes := []int{}
			for i := 0; i < 4; i++ {
				codes = append(codes, do().Code)
				if len(codes) >= 3 && codes[len(codes)-1] == 429 {
					break
				}
			}
			if codes[len(codes)-1] != 429 {
				t.Fatalf("after restart: statuses %v, want limiting to resume (429)", codes)
			}
			if n, err := client.Exists(context.Background(), "ratelimit:{:k}:h").Result(); err != nil || n != 1 {
				t.Fatalf("limit state not back in Redis: %d %v", n, err)
			}
		})
	}
}

func TestStoreErrorIsTyped(t *testing.T) {
	srv := redistest.NewServer(t)
	l, err := New(srv.Client(t), []ratelimit.Policy{ratelimit.PerHour("h", 2)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	if _, err := l.AllowN(context.Background(), "k", 1); !errors.Is(err, ratelimit.ErrStoreUnavailable) {
		t.Fatalf("error %v does not wrap ErrStoreUnavailable", err)
	}
}

var quietWriter = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})

func quietProblems(w http.ResponseWriter, r *http.Request, err error) { quietWriter.Write(w, r, err) }

// TestExpiryRefreshedByScript: the decision's one round trip also sets the
// key's expiry to two of the longest windows, and each admitted request
// refreshes it, so idle subjects leave Redis by themselves.
func TestExpiryRefreshedByScript(t *testing.T) {
	client := redistest.Client(t)
	prefix := redistest.Prefix(t)
	policies := []ratelimit.Policy{ratelimit.PerSecond("s", 100), ratelimit.PerMinute("m", 100)}
	l, err := New(client, policies, Options{Prefix: prefix, Timeout: generous, DeniedCacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name := prefix + ":{:k}:s,m"
	if _, err := l.AllowN(ctx, "k", 0); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Exists(ctx, name).Result(); err != nil || n != 0 {
		t.Fatalf("a peek (cost 0) wrote the key: %d %v", n, err)
	}
	if _, err := l.AllowN(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	ttl, err := client.PTTL(ctx, name).Result()
	if err != nil || ttl <= time.Minute || ttl > 2*time.Minute {
		t.Fatalf("PTTL after an admitted request = %v, %v; want within (1m, 2m]", ttl, err)
	}
	// Shorten the expiry by hand; the next admitted request restores it.
	if err := client.PExpire(ctx, name, time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AllowN(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if ttl, err := client.PTTL(ctx, name).Result(); err != nil || ttl <= time.Minute {
		t.Fatalf("PTTL after the next request = %v, %v; want it refreshed to about 2m", ttl, err)
	}
}

// TestTimeoutCutsOffHungRedis: against a server that accepts connections
// and never answers, Options.Timeout ends the call with an error wrapping
// ErrStoreUnavailable. The client has no read timeout of its own, so
// without Options.Timeout the call would never return.
func TestTimeoutCutsOffHungRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	client := redis.NewClient(&redis.Options{
		Addr: ln.Addr().String(), ContextTimeoutEnabled: true,
		ReadTimeout: -1, WriteTimeout: -1, MaxRetries: -1, DialerRetries: 1,
	})
	t.Cleanup(func() { client.Close() })
	l, err := New(client, []ratelimit.Policy{ratelimit.PerMinute("m", 10)}, Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.AllowN(context.Background(), "k", 1)
		done <- err
	}()
	// A generous bound for a call that, without the Timeout, never ends:
	// how fast it ends is not measured here.
	select {
	case err := <-done:
		if !errors.Is(err, ratelimit.ErrStoreUnavailable) {
			t.Fatalf("error %v does not wrap ErrStoreUnavailable", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("AllowN against a hung server did not return: Options.Timeout not applied")
	}
}

// TestUsesServerClock: windows follow the Redis server's clock (TIME),
// aligned to the Unix epoch. The Reset of a fresh hourly window must lie
// between the window ends seen from two TIME readings taken around the
// decision; a script that used no clock, or another epoch, fails.
func TestUsesServerClock(t *testing.T) {
	client := redistest.Client(t)
	l, err := New(client, []ratelimit.Policy{ratelimit.PerHour("h", 10)}, Options{Prefix: redistest.Prefix(t), Timeout: generous})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A boundary passing between the readings makes the check ambiguous;
	// the next attempt is then an hour from the next one.
	for attempt := 0; attempt < 2; attempt++ {
		before, err := client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.AllowN(ctx, fmt.Sprint("k", attempt), 1)
		if err != nil {
			t.Fatal(err)
		}
		after, err := client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		end := before.Truncate(time.Hour).Add(time.Hour)
		if !after.Before(end) {
			continue
		}
		if d.Reset < end.Sub(after) || d.Reset > end.Sub(before) {
			t.Fatalf("Reset %v; the server clock puts the window's end %v to %v away", d.Reset, end.Sub(after), end.Sub(before))
		}
		return
	}
	t.Fatal("an hour boundary passed during both attempts")
}
