// Command argon2rss measures peak memory and wall time of N concurrent
// Argon2id verifications, bounded by authn/password's concurrency limit or
// unbounded (alexedwards/argon2id, as the research anchor). Run it under
// /usr/bin/time -v and read "Maximum resident set size":
//
//	go build -o /tmp/argon2rss ./bench/cmd/argon2rss
//	/usr/bin/time -v /tmp/argon2rss -n 50 -limit 2            # backstop, 2 slots
//	/usr/bin/time -v /tmp/argon2rss -n 50 -unbounded          # the anchor
//	/usr/bin/time -v /tmp/argon2rss -n 50 -limit 2 -m 19456 -t 2 -p 1
//
// All N goroutines are released at once; each verifies the same hash.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/backstop-go/backstop/authn/password"
)

func main() {
	n := flag.Int("n", 50, "concurrent verifications")
	limit := flag.Int("limit", 2, "password.Options.Concurrency")
	unbounded := flag.Bool("unbounded", false, "use alexedwards/argon2id with no limit instead")
	m := flag.Uint("m", 65536, "memory, KiB")
	t := flag.Uint("t", 3, "passes")
	p := flag.Uint("p", 4, "lanes")
	flag.Parse()

	pw := []byte("correct horse battery staple")
	ctx := context.Background()
	var verify func() error
	if *unbounded {
		hash, err := argon2id.CreateHash(string(pw), &argon2id.Params{Memory: uint32(*m), Iterations: uint32(*t),
			Parallelism: uint8(*p), SaltLength: 16, KeyLength: 32})
		check(err)
		verify = func() error {
			ok, err := argon2id.ComparePasswordAndHash(string(pw), hash)
			if !ok && err == nil {
				err = fmt.Errorf("no match")
			}
			return err
		}
	} else {
		h, err := password.New(password.Options{Memory: uint32(*m), Time: uint32(*t), Threads: uint8(*p),
			Concurrency: *limit, MaxWait: time.Hour})
		check(err)
		hash, err := h.Hash(ctx, pw)
		check(err)
		verify = func() error {
			ok, _, err := h.Verify(ctx, pw, hash)
			if !ok && err == nil {
				err = fmt.Errorf("no match")
			}
			return err
		}
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	for range *n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			check(verify())
			d := time.Since(t0)
			mu.Lock()
			slowest = max(slowest, d)
			mu.Unlock()
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	fmt.Printf("n=%d m=%d t=%d p=%d limit=%v unbounded=%v wall=%.2fs slowest=%.2fs\n",
		*n, *m, *t, *p, *limit, *unbounded, time.Since(t0).Seconds(), slowest.Seconds())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
