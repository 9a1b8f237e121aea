package client_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/client"
)

// These tests run in a synctest bubble, whose clock moves only when every
// goroutine waits: a wait of seconds takes no real time and is measured
// exactly. Requests go through an in-memory transport.

// answer is one scripted outcome of a fake transport.
type answer struct {
	status int
	header map[string]string
	err    error // a failure before any response
}

// fake is an in-memory transport that answers from a script (then 200)
// and records when each attempt arrived and with which host.
type fake struct {
	mu     sync.Mutex
	start  time.Time
	script []answer
	always *answer // answers every request when set
	at     []time.Duration
	hosts  []string
}

func newFake(script ...answer) *fake { return &fake{start: time.Now(), script: script} }

func (f *fake) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	f.mu.Lock()
	f.at = append(f.at, time.Since(f.start))
	f.hosts = append(f.hosts, r.URL.Host)
	a := answer{status: 200}
	switch {
	case f.always != nil:
		a = *f.always
	case len(f.script) > 0:
		a, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	return response(r, a.status, a.header, "answer"), nil
}

func (f *fake) times() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.at...)
}

var errRefused = errors.New("connection refused")

// get sends a GET for url through tr and returns the status (0 for an
// error), how long the call took, and the error.
func get(tr http.RoundTripper, ctx context.Context, url string) (status int, took time.Duration, err error) {
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := tr.RoundTrip(req)
	took = time.Since(start)
	if err != nil {
		return 0, took, err
	}
	resp.Body.Close()
	return resp.StatusCode, took, nil
}

func wantTimes(t *testing.T, got []time.Duration, want ...time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("attempts at %v, want at %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("attempts at %v, want at %v", got, want)
		}
	}
}

func TestRetryAfterDelaySeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(answer{status: 503, header: map[string]string{"Retry-After": "7"}})
		status, _, err := get(client.New(f, client.Options{}), context.Background(), "http://api.test/")
		if status != 200 || err != nil {
			t.Fatal(status, err)
		}
		wantTimes(t, f.times(), 0, 7*time.Second)
	})
}

// TestRetryAfterHTTPDateMeasuredFromServerDate checks that an HTTP-date
// is counted from the response's Date, so a server whose clock is an hour
// off still gets the wait it asked for.
func TestRetryAfterHTTPDateMeasuredFromServerDate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		serverNow := time.Now().Add(-time.Hour)
		f := newFake(answer{status: 429, header: map[string]string{
			"Date":        serverNow.UTC().Format(http.TimeFormat),
			"Retry-After": serverNow.Add(12 * time.Second).UTC().Format(http.TimeFormat),
		}})
		status, _, err := get(client.New(f, client.Options{}), context.Background(), "http://api.test/")
		if status != 200 || err != nil {
			t.Fatal(status, err)
		}
		wantTimes(t, f.times(), 0, 12*time.Second)
	})
}

// TestRetryAfterHTTPDateWithoutDate checks an HTTP-date against the
// client's clock when the response has no Date, and a date in the past.
func TestRetryAfterHTTPDateWithoutDate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		f := newFake(
			answer{status: 503, header: map[string]string{"Retry-After": now.Add(5 * time.Second).UTC().Format(http.TimeFormat)}},
			answer{status: 503, header: map[string]string{"Retry-After": now.Add(-time.Hour).UTC().Format(time.RFC850)}},
		)
		status, _, err := get(client.New(f, client.Options{}), context.Background(), "http://api.test/")
		if status != 200 || err != nil {
			t.Fatal(status, err)
		}
		wantTimes(t, f.times(), 0, 5*time.Second, 5*time.Second)
	})
}

// TestRateLimitResetOfExhaustedPolicy checks that without Retry-After the
// wait is the t of the policy with no quota left.
func TestRateLimitResetOfExhaustedPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(answer{status: 429, header: map[string]string{
			"RateLimit": `"burst";r=0;t=4, "daily";r=99;t=80000`,
		}})
		status, _, err := get(client.New(f, client.Options{}), context.Background(), "http://api.test/")
		if status != 200 || err != nil {
			t.Fatal(status, err)
		}
		wantTimes(t, f.times(), 0, 4*time.Second)
	})
}

func TestRetryAfterTakesPrecedenceOverRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(answer{status: 429, header: map[string]string{
			"Retry-After": "2",
			"RateLimit":   `"burst";r=0;t=9`,
		}})
		get(client.New(f, client.Options{}), context.Background(), "http://api.test/")
		wantTimes(t, f.times(), 0, 2*time.Second)
	})
}

// TestRateLimitWithQuotaLeftUsesBackoff checks that a RateLimit field
// with quota left does not set the wait.
func TestRateLimitWithQuotaLeftUsesBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(answer{status: 503, header: map[string]string{"RateLimit": `"p";r=5;t=60`}})
		get(client.New(f, client.Options{BaseDelay: time.Second}), context.Background(), "http://api.test/")
		at := f.times()
		if len(at) != 2 || at[1] > time.Second {
			t.Fatalf("attempts at %v, want a retry within the 1s backoff", at)
		}
	})
}

// TestBackoffFullJitter checks that without a server hint the wait before
// resend n is drawn from all of [0, min(MaxDelay, BaseDelay·2^(n-1))].
func TestBackoffFullJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const base, maxDelay = 100 * time.Millisecond, 300 * time.Millisecond
		bounds := []time.Duration{base, 2 * base, maxDelay} // 400 ms is capped
		f := &fake{start: time.Now(), always: &answer{status: 503}}
		tr := client.New(f, client.Options{MaxAttempts: 4, BaseDelay: base, MaxDelay: maxDelay, Budget: client.Budget{Ratio: -1}})
		lo := []time.Duration{time.Hour, time.Hour, time.Hour}
		hi := make([]time.Duration, 3)
		for range 200 {
			f.mu.Lock()
			f.at = f.at[:0]
			f.start = time.Now()
			f.mu.Unlock()
			get(tr, context.Background(), "http://api.test/")
			at := f.times()
			if len(at) != 4 {
				t.Fatalf("%d attempts, want 4", len(at))
			}
			for n := 1; n < 4; n++ {
				w := at[n] - at[n-1]
				if w < 0 || w > bounds[n-1] {
					t.Fatalf("wait before resend %d is %v, outside [0, %v]", n, w, bounds[n-1])
				}
				lo[n-1], hi[n-1] = min(lo[n-1], w), max(hi[n-1], w)
			}
		}
		for n := range 3 {
			if lo[n] > bounds[n]/5 || hi[n] < bounds[n]*4/5 {
				t.Fatalf("waits before resend %d span [%v, %v] of [0, %v]: not full jitter", n+1, lo[n], hi[n], bounds[n])
			}
		}
	})
}

// TestWaitBeyondMaxWaitEndsAtOnce checks that a server asking for more
// than MaxWait gets no retry, and the caller its answer at once.
func TestWaitBeyondMaxWaitEndsAtOnce(t *testing.T) {
	for name, h := range map[string]map[string]string{
		"Retry-After": {"Retry-After": "31"},
		"RateLimit":   {"RateLimit": `"p";r=0;t=31`},
		"huge":        {"Retry-After": "99999999999999999999999"},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake(answer{status: 503, header: h})
				status, took, err := get(client.New(f, client.Options{}), context.Background(), "http://api.test/")
				if status != 503 || err != nil || took != 0 || len(f.times()) != 1 {
					t.Fatalf("status %d, %v after %v and %d attempts; want 503 at once", status, err, took, len(f.times()))
				}
			})
		})
	}
}

// TestWaitPastDeadlineEndsAtOnce checks that a wait that would end after
// the context's deadline is not started: the last response comes back at
// once. A wait that ends before the deadline is waited.
func TestWaitPastDeadlineEndsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f := newFake(
			answer{status: 503, header: map[string]string{"Retry-After": "3"}},
			answer{status: 503, header: map[string]string{"Retry-After": "3"}},
		)
		status, took, err := get(client.New(f, client.Options{}), ctx, "http://api.test/")
		if status != 503 || err != nil || took != 3*time.Second {
			t.Fatalf("status %d, %v after %v; want the second 503 after 3s", status, err, took)
		}
		wantTimes(t, f.times(), 0, 3*time.Second)
	})
}

// TestFailureWaitTooLongSaysSo checks the error when retries of a failed
// attempt stop because of MaxWait or the deadline.
func TestFailureWaitTooLongSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{start: time.Now(), always: &answer{err: errRefused}}
		tr := client.New(f, client.Options{BaseDelay: time.Hour, MaxDelay: time.Hour, MaxWait: time.Nanosecond})
		_, took, err := get(tr, context.Background(), "http://api.test/")
		if !errors.Is(err, client.ErrWaitTooLong) || !errors.Is(err, errRefused) || took != 0 {
			t.Fatalf("error %v after %v, want ErrWaitTooLong and the cause at once", err, took)
		}

		tr = client.New(f, client.Options{BaseDelay: math.MaxInt64, MaxDelay: math.MaxInt64})
		if _, _, err := get(tr, context.Background(), "http://api.test/"); !errors.Is(err, client.ErrWaitTooLong) {
			t.Fatalf("error %v with the largest delays, want ErrWaitTooLong", err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		tr = client.New(f, client.Options{BaseDelay: time.Hour, MaxDelay: time.Hour, MaxWait: 2 * time.Hour})
		_, took, err = get(tr, ctx, "http://api.test/")
		if !errors.Is(err, client.ErrWaitTooLong) || took != 0 {
			t.Fatalf("error %v after %v, want ErrWaitTooLong at once", err, took)
		}
	})
}

// TestCancelDuringWait checks that cancelling the context ends a wait at
// once.
func TestCancelDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		f := newFake(answer{status: 503, header: map[string]string{"Retry-After": "10"}})
		go func() {
			time.Sleep(2 * time.Second)
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, "PUT", "http://api.test/", strings.NewReader("body"))
		start := time.Now()
		_, err := client.New(f, client.Options{}).RoundTrip(req)
		if !errors.Is(err, context.Canceled) || time.Since(start) != 2*time.Second || len(f.times()) != 1 {
			t.Fatalf("error %v after %v, want context.Canceled after 2s", err, time.Since(start))
		}
	})
}

// TestBudgetBoundsRetriesPerHost checks that retries to a failing host
// add at most Ratio of the requests plus Reserve, that a long run of
// successes does not save up more than Reserve, and that another host has
// its own budget.
func TestBudgetBoundsRetriesPerHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{start: time.Now()}
		tr := client.New(f, client.Options{}) // 10 % of requests, reserve 10
		for range 1000 {
			get(tr, context.Background(), "http://a.test/")
		}
		f.mu.Lock()
		f.always, f.at = &answer{status: 503}, nil
		f.mu.Unlock()
		const calls = 100
		for range calls {
			if status, _, _ := get(tr, context.Background(), "http://a.test/"); status != 503 {
				t.Fatal(status)
			}
		}
		retries := len(f.times()) - calls
		if limit := 10 + calls/10; retries > limit || retries < limit-3 {
			t.Fatalf("%d retries for %d failing requests, want about %d and no more", retries, calls, limit)
		}
		// The budget is spent: a failure now says so.
		f.mu.Lock()
		f.always = &answer{err: errRefused}
		f.mu.Unlock()
		if _, _, err := get(tr, context.Background(), "http://a.test/"); !errors.Is(err, client.ErrBudgetExhausted) {
			t.Fatalf("error %v, want ErrBudgetExhausted", err)
		}
		// Another host is not affected.
		f.mu.Lock()
		f.at = nil
		f.mu.Unlock()
		get(tr, context.Background(), "http://b.test/")
		if n := len(f.times()); n != 3 {
			t.Fatalf("%d attempts to another host, want 3", n)
		}
	})
}

// TestWaitForQuota checks the pre-emptive wait: after a RateLimit field
// with r=0, the next request to that host waits for t; other hosts do not;
// a field with quota left lifts the wait; without the option, no wait.
func TestWaitForQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exhausted := answer{status: 200, header: map[string]string{"RateLimit": `"p";r=0;t=3`}}
		f := newFake(exhausted, answer{status: 200}, answer{status: 200, header: map[string]string{"RateLimit": `"p";r=5;t=3`}})
		tr := client.New(f, client.Options{WaitForQuota: true})
		ctx := context.Background()
		if _, took, _ := get(tr, ctx, "http://a.test/"); took != 0 {
			t.Fatalf("first request took %v", took)
		}
		if _, took, _ := get(tr, ctx, "http://b.test/"); took != 0 {
			t.Fatalf("another host waited %v", took)
		}
		if _, took, _ := get(tr, ctx, "http://a.test/"); took != 3*time.Second {
			t.Fatalf("request after r=0 took %v, want 3s", took)
		}
		if _, took, _ := get(tr, ctx, "http://a.test/"); took != 0 {
			t.Fatalf("request after r=5 took %v, want no wait", took)
		}

		f = newFake(exhausted)
		tr = client.New(f, client.Options{})
		get(tr, ctx, "http://a.test/")
		if _, took, _ := get(tr, ctx, "http://a.test/"); took != 0 {
			t.Fatalf("waited %v without WaitForQuota", took)
		}

		// A wait longer than MaxWait is skipped.
		f = newFake(answer{status: 200, header: map[string]string{"RateLimit": `"p";r=0;t=3600`}})
		tr = client.New(f, client.Options{WaitForQuota: true})
		get(tr, ctx, "http://a.test/")
		if _, took, _ := get(tr, ctx, "http://a.test/"); took != 0 {
			t.Fatalf("waited %v beyond MaxWait", took)
		}
	})
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	*strings.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// TestBodyClosedWhenNeverSent checks that a request cancelled during the
// wait for its host's quota, before any attempt, still has its body
// closed, as a RoundTripper must.
func TestBodyClosedWhenNeverSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(answer{status: 200, header: map[string]string{"RateLimit": `"p";r=0;t=10`}})
		tr := client.New(f, client.Options{WaitForQuota: true})
		get(tr, context.Background(), "http://a.test/")

		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		body := &closeCounter{Reader: strings.NewReader("x")}
		req, _ := http.NewRequestWithContext(ctx, "PUT", "http://a.test/", body)
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if body.closed != 1 || len(f.times()) != 1 {
			t.Fatalf("body closed %d times after %d attempts; want once, no attempt", body.closed, len(f.times())-1)
		}
	})
}

// TestHugeReserveStillRetries checks that a huge Budget.Reserve is a
// large budget, not an overflow into a tiny one. (2^64/10^6 rounded up
// retries would wrap around to less than one in a fixed-point count of
// millionths.)
func TestHugeReserveStillRetries(t *testing.T) {
	reserve := int64(18446744073710)
	if int64(int(reserve)) != reserve {
		t.Skip("int has 32 bits")
	}
	synctest.Test(t, func(t *testing.T) {
		f := &fake{start: time.Now(), always: &answer{status: 503}}
		tr := client.New(f, client.Options{Budget: client.Budget{Reserve: int(reserve)}})
		get(tr, context.Background(), "http://a.test/")
		if n := len(f.times()); n != 3 {
			t.Fatalf("%d attempts, want 3", n)
		}
	})
}

// TestBudgetPerHostWhateverItsSpelling checks that the URLs of one
// host:port share its retry budget and its quota however they spell it,
// and that another port of the host has its own:
// host names are case-insensitive (RFC 3986 §3.2.2), and an omitted port
// is the scheme's default (RFC 9110 §4.2.3).
func TestBudgetPerHostWhateverItsSpelling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{start: time.Now(), always: &answer{status: 503}}
		// A reserve of one retry, and deposits too small to earn another.
		tr := client.New(f, client.Options{Budget: client.Budget{Ratio: 0.001, Reserve: 1}})
		get(tr, context.Background(), "http://a.test/") // retried once: the budget is spent
		for _, u := range []string{"http://A.TEST/", "http://a.test:80/", "http://A.test:80/"} {
			f.mu.Lock()
			f.at = nil
			f.mu.Unlock()
			get(tr, context.Background(), u)
			if n := len(f.times()); n != 1 {
				t.Errorf("%s: %d attempts, want 1: a.test:80's budget is spent", u, n)
			}
		}
		f.mu.Lock()
		f.at = nil
		f.mu.Unlock()
		get(tr, context.Background(), "https://a.test/") // another port: its own budget
		if n := len(f.times()); n != 2 {
			t.Errorf("https://a.test/: %d attempts, want 2: a.test:443 has a budget of its own", n)
		}

		f = newFake(answer{status: 200, header: map[string]string{"RateLimit": `"p";r=0;t=3`}})
		tr = client.New(f, client.Options{WaitForQuota: true})
		get(tr, context.Background(), "https://api.test/")
		if _, took, _ := get(tr, context.Background(), "https://API.test:443/"); took != 3*time.Second {
			t.Errorf("request to API.test:443 after r=0 from api.test took %v, want 3s", took)
		}
	})
}
