package redistest_test

import (
	"testing"
	"time"

	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// The examples have no output to check: the helpers need the *testing.T of
// a running test. redistest_test.go runs the same calls as real tests.

// A package with Redis tests calls Main from TestMain; each test then takes
// a client of the shared server and a key prefix of its own.
func Example() {
	// func TestMain(m *testing.M) { redistest.Main(m) }

	testVisits := func(t *testing.T) {
		ctx := t.Context()
		rdb := redistest.Client(t)
		key := redistest.Prefix(t) + "visits"
		if n, err := rdb.Incr(ctx, key).Result(); err != nil || n != 1 {
			t.Fatalf("INCR = %d, %v; want 1, nil", n, err)
		}
	}
	_ = testVisits
}

// Keys that a script uses together share a hash tag, so they live in one
// slot of the cluster.
func ExampleCluster() {
	testTransfer := func(t *testing.T) {
		ctx := t.Context()
		cc := redistest.Cluster(t)
		tag := redistest.Prefix(t) + "{account42}"
		move := redis.NewScript(`return redis.call('RENAME', KEYS[1], KEYS[2])`)
		if err := cc.Set(ctx, tag+":pending", "10", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if err := move.Run(ctx, cc, []string{tag + ":pending", tag + ":done"}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_ = testTransfer
}

// An outage test takes a private server, stops it, and checks that the code
// under test copes; after Restart the same client works again.
func ExampleServer_Restart() {
	testOutage := func(t *testing.T) {
		ctx := t.Context()
		srv := redistest.NewServer(t)
		rdb := srv.Client(t)

		srv.Stop(t)
		if err := rdb.Ping(ctx).Err(); err == nil {
			t.Fatal("PING succeeded while the server was down")
		}

		srv.Restart(t)
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING after Restart: %v", err)
		}
	}
	_ = testOutage
}
