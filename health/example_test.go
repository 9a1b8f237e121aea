package health_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/health"
)

func ExampleRegistry() {
	reg := health.New(health.Options{Logger: slog.New(slog.DiscardHandler)})
	defer reg.Close()

	reg.Register("db", func(ctx context.Context) error {
		return nil // db.PingContext(ctx)
	}, health.CheckOptions{Timeout: 500 * time.Millisecond})
	reg.Register("search", func(ctx context.Context) error {
		return errors.New("connection refused")
	}, health.CheckOptions{Optional: true}) // a failure is a warning
	reg.Register("migrations", func(ctx context.Context) error {
		return nil // once passed, startup never runs it again
	}, health.CheckOptions{Probes: health.Startup})

	for _, p := range []health.Probe{health.Live, health.Ready, health.Startup} {
		rep := reg.Check(context.Background(), p)
		fmt.Println(p, rep.Status)
		for _, c := range rep.Checks {
			fmt.Printf("  %s %s %v\n", c.Name, c.Status, c.Err)
		}
	}
	// Output:
	// livez pass
	// readyz warn
	//   db pass <nil>
	//   search warn connection refused
	//   shutdown pass <nil>
	// startupz pass
	//   migrations pass <nil>
}

func ExampleRegistry_Handler() {
	reg := health.New(health.Options{Logger: slog.New(slog.DiscardHandler)})
	defer reg.Close()
	reg.Register("db", func(ctx context.Context) error { return nil }, health.CheckOptions{})
	reg.Register("cache", func(ctx context.Context) error {
		return errors.New("dial tcp 10.0.0.7:6379: connection refused")
	}, health.CheckOptions{})

	mux := http.NewServeMux()
	mux.Handle("GET /livez", reg.Handler(health.Live))
	mux.Handle("GET /readyz", reg.Handler(health.Ready))
	mux.Handle("GET /readyz/{name}", reg.Handler(health.Ready))

	for _, target := range []string{"/livez", "/readyz/db", "/readyz?verbose", "/readyz?exclude=cache"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Accept", "text/plain") // the default is application/health+json
		mux.ServeHTTP(rec, req)
		fmt.Printf("GET %s: %d\n%s\n", target, rec.Code, rec.Body)
	}
	// Output:
	// GET /livez: 200
	// ok
	// GET /readyz/db: 200
	// ok
	// GET /readyz?verbose: 503
	// [+]db ok
	// [-]cache failed: reason withheld
	// [+]shutdown ok
	// readyz check failed
	//
	// GET /readyz?exclude=cache: 200
	// ok
}

func ExampleRegistry_Drain() {
	reg := health.New(health.Options{Logger: slog.New(slog.DiscardHandler)})
	defer reg.Close()
	reg.Register("db", func(ctx context.Context) error { return nil }, health.CheckOptions{})

	probe := func(p health.Probe) int {
		rec := httptest.NewRecorder()
		reg.Handler(p).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Code
	}
	fmt.Println("before:", probe(health.Live), probe(health.Ready))
	reg.Drain() // on SIGTERM: stop receiving traffic, but do not get restarted
	fmt.Println("draining:", probe(health.Live), probe(health.Ready))
	// Output:
	// before: 200 200
	// draining: 200 503
}

// Serve runs the server until SIGTERM, then drains, waits for load
// balancers to notice and shuts the server down.
func ExampleRegistry_Serve() {
	reg := health.New(health.Options{DrainDelay: 5 * time.Second})
	defer reg.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /livez", reg.Handler(health.Live))
	mux.Handle("GET /readyz", reg.Handler(health.Ready))
	mux.Handle("GET /readyz/{name}", reg.Handler(health.Ready))

	srv := &http.Server{Addr: ":8080", Handler: mux}
	if err := reg.Serve(context.Background(), srv, srv.ListenAndServe); err != nil {
		log.Fatal(err)
	}
	// Now close the database and the Redis clients, and flush telemetry.
}

// The same order by hand, for a program that handles signals itself.
func ExampleRegistry_Shutdown() {
	reg := health.New(health.Options{})
	srv := &http.Server{Addr: ":8080"}
	sigterm := make(chan struct{}) // closed by the program's signal handling

	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	<-sigterm
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	// Readiness fails now; the server keeps serving for the drain delay,
	// then stops accepting and waits for in-flight requests.
	if err := reg.Shutdown(ctx, srv); err != nil {
		log.Print(err)
	}
}

// A go-redis client is a check in one line. The redisstore packages of
// idempotency and ratelimit have a Ping method that is a check as it is.
func ExampleCheckFunc_redis() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()

	reg := health.New(health.Options{})
	defer reg.Close()
	reg.Register("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		health.CheckOptions{Timeout: 300 * time.Millisecond})
}

func ExampleDB() {
	db, err := sql.Open("pgx", "postgres://app@db/app") // any database/sql driver
	if err != nil {
		log.Fatal(err)
	}
	reg := health.New(health.Options{})
	reg.Register("db", health.DB(db), health.CheckOptions{Timeout: 500 * time.Millisecond})
}

func ExampleHTTPGet() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer upstream.Close()

	check, err := health.HTTPGet(upstream.URL+"/healthz", nil) // the URL comes from configuration
	if err != nil {
		log.Fatal(err)
	}
	reg := health.New(health.Options{Logger: slog.New(slog.DiscardHandler)})
	defer reg.Close()
	reg.Register("payments", check, health.CheckOptions{Timeout: time.Second, Optional: true})

	rep := reg.Check(context.Background(), health.Ready)
	fmt.Println(rep.Status, rep.Checks[0].Status)
	// Output:
	// warn warn
}
