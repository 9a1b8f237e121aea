package redisstore_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/redisstore"
)

func ExampleNew() {
	// Any redis.UniversalClient: NewClient, NewClusterClient, NewFailoverClient...
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	defer client.Close()

	l, err := redisstore.New(client, []ratelimit.Policy{
		ratelimit.PerSecond("burst", 10),
		ratelimit.PerHour("hourly", 1000),
	}, redisstore.Options{Prefix: "myapp:rl"})
	if err != nil {
		panic(err)
	}
	key, _ := ratelimit.ClientIP(ratelimit.ClientIPOptions{})
	m, err := ratelimit.NewMiddleware(l, key, ratelimit.Options{
		OnError: ratelimit.FailLocal, // per-process limits while Redis is down
	})
	if err != nil {
		panic(err)
	}
	http.Handle("/", m.Handler(http.NotFoundHandler()))

	// Or decide directly:
	if d, err := l.AllowN(context.Background(), "user-42", 1); err == nil && !d.Allowed {
		fmt.Println("retry in", d.RetryAfter)
	}
}
