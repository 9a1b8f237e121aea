// Command argon2rss measures peak memory, wall time and CPU time of N
// concurrent Argon2id verifications, bounded by authn/password's
// concurrency limit or unbounded (alexedwards/argon2id, as the research
// anchor).
//
// One run per process, read under /usr/bin/time -v ("Maximum resident set
// size") or from the line it prints, whose rss is the process's own peak
// (getrusage):
//
//	go build -o /tmp/argon2rss ./bench/cmd/argon2rss
//	/tmp/argon2rss -n 50 -limit 2            # backstop, 2 slots
//	/tmp/argon2rss -n 50 -unbounded          # the anchor
//	/tmp/argon2rss -n 50 -limit 2 -m 19456 -t 2 -p 1
//
// On a machine shared with other work, two runs taken minutes apart see
// different loads, and the ratio of their wall times says more about the
// load than about the limit. -rounds k runs the pair k times, each run in
// a process of its own, bounded and unbounded in turn (their order
// alternating between rounds), and prints each run and the medians, with
// the bounded/unbounded ratios of wall time and of CPU time (user+system,
// which other work on the machine disturbs much less than wall time):
//
//	/tmp/argon2rss -n 50 -limit 2 -rounds 5
//
// All N goroutines are released at once; each verifies the same hash. The
// wall time is that of the N verifications, without the process's start
// and the hash's creation; the CPU time and rss are the whole process's.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
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
	rounds := flag.Int("rounds", 0, "run bounded and unbounded this many times each, in turn, one process per run, and compare")
	flag.Parse()

	if *rounds > 0 {
		compare(*rounds, *n, *limit, *m, *t, *p)
		return
	}

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
	wall := time.Since(t0)
	u := selfUsage()
	fmt.Printf("n=%d m=%d t=%d p=%d limit=%v unbounded=%v wall=%.2fs slowest=%.2fs cpu=%.2fs rss=%dKiB\n",
		*n, *m, *t, *p, *limit, *unbounded, wall.Seconds(), slowest.Seconds(), u.cpu.Seconds(), u.rssKiB)
}

// run is what one measured process reported.
type run struct {
	wall, cpu float64 // seconds
	rssKiB    int64
}

// compare runs the bounded and the unbounded case rounds times each, in
// alternating order, one process per run, and prints the medians.
func compare(rounds, n, limit int, m, t, p uint) {
	self, err := os.Executable()
	check(err)
	args := []string{"-n", strconv.Itoa(n), "-limit", strconv.Itoa(limit),
		"-m", strconv.FormatUint(uint64(m), 10), "-t", strconv.FormatUint(uint64(t), 10), "-p", strconv.FormatUint(uint64(p), 10)}
	var bounded, unbounded []run
	for r := range rounds {
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, unb := range order {
			a := args
			if unb {
				a = append(slices.Clip(a), "-unbounded")
			}
			out, err := exec.Command(self, a...).Output()
			check(err)
			line := strings.TrimSpace(string(out))
			fmt.Println(line)
			x := run{wall: field(line, "wall=", "s"), cpu: field(line, "cpu=", "s"), rssKiB: int64(field(line, "rss=", "KiB"))}
			if unb {
				unbounded = append(unbounded, x)
			} else {
				bounded = append(bounded, x)
			}
		}
	}
	b, u := medians(bounded), medians(unbounded)
	budget := 2*int64(limit)*int64(m) + 30<<10
	fmt.Printf("median of %d: bounded wall=%.2fs cpu=%.2fs rss=%dKiB (target ≤ 2×limit×m+30MiB = %dKiB); unbounded wall=%.2fs cpu=%.2fs rss=%dKiB\n",
		rounds, b.wall, b.cpu, b.rssKiB, budget, u.wall, u.cpu, u.rssKiB)
	fmt.Printf("bounded/unbounded: wall %.2f, cpu %.2f, rss %.2f\n", b.wall/u.wall, b.cpu/u.cpu, float64(b.rssKiB)/float64(u.rssKiB))
}

// field returns the number that follows name in line, up to unit.
func field(line, name, unit string) float64 {
	_, v, ok := strings.Cut(line, name)
	if !ok {
		check(fmt.Errorf("no %q in %q", name, line))
	}
	v, _, _ = strings.Cut(v, " ")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, unit), 64)
	check(err)
	return f
}

func medians(rs []run) run {
	med := func(f func(run) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return run{
		wall:   med(func(r run) float64 { return r.wall }),
		cpu:    med(func(r run) float64 { return r.cpu }),
		rssKiB: int64(med(func(r run) float64 { return float64(r.rssKiB) })),
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
