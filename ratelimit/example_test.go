package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

func ExampleNewSlidingWindow() {
	clock := limitertest.NewClock() // a fake clock keeps the output stable
	l, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{
		ratelimit.PerSecond("burst", 2),
		ratelimit.PerHour("hourly", 100),
	}, ratelimit.MemoryOptions{Clock: clock.Now})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		d, _ := l.AllowN(ctx, "user-42", 1)
		fmt.Printf("allowed=%v remaining=%d retry-after=%v\n", d.Allowed, d.Remaining, d.RetryAfter)
	}
	// Output:
	// allowed=true remaining=1 retry-after=0s
	// allowed=true remaining=0 retry-after=0s
	// allowed=false remaining=0 retry-after=1.5s
}

func ExampleNewTokenBucket() {
	clock := limitertest.NewClock()
	l, err := ratelimit.NewTokenBucket([]ratelimit.Policy{ratelimit.PerMinute("api", 60)}, ratelimit.MemoryOptions{Clock: clock.Now})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	d, _ := l.AllowN(ctx, "user-42", 60) // a full burst
	fmt.Println(d.Allowed, d.Remaining)
	d, _ = l.AllowN(ctx, "user-42", 3)
	fmt.Println(d.Allowed, d.RetryAfter) // one token per second
	clock.Advance(3 * time.Second)
	d, _ = l.AllowN(ctx, "user-42", 3)
	fmt.Println(d.Allowed, d.Remaining)
	// Output:
	// true 0
	// false 3s
	// true 0
}

func ExampleMiddleware_Handler() {
	// The fake clock keeps the output stable (t counts down with real
	// time); in production leave MemoryOptions.Clock unset.
	clock := limitertest.NewClock()
	l, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("default", 2)}, ratelimit.MemoryOptions{Clock: clock.Now})
	if err != nil {
		panic(err)
	}
	// No trusted proxies: the socket peer is the client.
	m := ratelimit.New(l, ratelimit.ClientIP(ratelimit.ClientIPOptions{}), ratelimit.Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		fmt.Printf("%d RateLimit-Policy: %s RateLimit: %s Retry-After: %q\n", rec.Code,
			rec.Header().Get("RateLimit-Policy"), rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 RateLimit-Policy: "default";q=2;w=60 RateLimit: "default";r=1;t=60 Retry-After: ""
	// 200 RateLimit-Policy: "default";q=2;w=60 RateLimit: "default";r=0;t=60 Retry-After: ""
	// 429 RateLimit-Policy: "default";q=2;w=60 RateLimit: "default";r=0;t=90 Retry-After: "90"
}
