package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/redisstore"
)

// exampleRedis is the server the examples run against; in your code,
// &redis.Options{Addr: "localhost:6379"} or a Cluster or Sentinel client.
func exampleRedis() *redis.Options {
	opt, err := redistest.Options()
	if err != nil {
		panic(err)
	}
	return opt
}

func ExampleNew() {
	client := redis.NewClient(exampleRedis()) // any redis.UniversalClient
	defer client.Close()

	l, err := redisstore.New(client, []ratelimit.Policy{
		ratelimit.PerMinute("minute", 2),
		ratelimit.PerHour("hourly", 1000),
	}, redisstore.Options{
		Prefix: "example:" + rand.Text(),
		// The default, 100ms, suits production. The Example's output must
		// not depend on how loaded the machine running it is.
		Timeout: 10 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	key := ratelimit.Header("X-Api-Key", nil)
	m, err := ratelimit.NewMiddleware(l, key, ratelimit.Options{
		OnError: ratelimit.FailLocal, // per-process limits while Redis is down
	})
	if err != nil {
		panic(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Api-Key", "k1")
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
