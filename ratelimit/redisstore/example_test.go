package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/redisstore"
)

func ExampleNew() {
	// Any redis.UniversalClient: a single node, Sentinel or Cluster client.
	client := redis.NewClient(&redis.Options{Addr: redisAddr}) // e.g. "localhost:6379"
	defer client.Close()

	l, err := redisstore.New(client, []ratelimit.Policy{
		ratelimit.PerMinute("minute", 2),
		ratelimit.PerHour("hourly", 1000),
	}, redisstore.Options{
		Prefix: "example:" + rand.Text(),
		// The default, 50ms, suits production. The Example's output must
		// not depend on how loaded the machine running it is.
		Timeout: 10 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	// Key by API key, but only for keys the service issued, as the account
	// they belong to; anything else is keyed by client address.
	accounts := map[string]string{"k1-secret": "acct-1"}
	key := ratelimit.Header("X-Api-Key", func(v string) (string, bool) {
		acct, ok := accounts[v]
		return acct, ok
	}, ratelimit.ClientIP(ratelimit.ClientIPOptions{}))
	m := ratelimit.New(l, key, ratelimit.Options{
		OnError: ratelimit.FailLocal, // per-process limits while Redis is down
	})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Api-Key", "k1-secret")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("RateLimit-Policy"))
	}

	// Or decide directly: one round trip for both policies.
	d, err := l.AllowN(context.Background(), "user-42", 1)
	fmt.Println(d.Allowed, d.Remaining, err)
	// Output:
	// 200 "minute";q=2;w=60, "hourly";q=1000;w=3600
	// 200 "minute";q=2;w=60, "hourly";q=1000;w=3600
	// 429 "minute";q=2;w=60, "hourly";q=1000;w=3600
	// true 1 <nil>
}

func ExampleLimiter_Ping() {
	client := redis.NewClient(&redis.Options{Addr: redisAddr}) // e.g. "localhost:6379"
	defer client.Close()
	l, err := redisstore.New(client, []ratelimit.Policy{ratelimit.PerDay("daily", 10_000)}, redisstore.Options{Timeout: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	// New did no network I/O; a readiness check can ask Redis through the
	// limiter, bounded by Options.Timeout.
	fmt.Println(l.Ping(context.Background()))
	// Output: <nil>
}
