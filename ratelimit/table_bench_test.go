package ratelimit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkTable measures the table alone: a lookup, a counter update and
// the unlock, for one hot key and for 1k, 100k and 1M live keys touched in
// scattered order (key i·7919 mod n), MaxKeys twice the keys. Run with
// -cpu 1,2 and compare with benchstat. (The lock-free slot cache this table
// replaced ran as a second case here until it lost to it; see the
// ratelimit README.)
// TABLE_ROUNDS=10 repeats every case ten times in turn, in one process
// (the filled tables are kept), so that a change in the machine's load
// hits both tables alike; strip the round from the names for benchstat:
//
//	TABLE_ROUNDS=10 go test -run '^$' -bench 'Table' -cpu 1,2 ./ratelimit/ | sed 's#/round=[0-9]*##' > table.txt
//
// TABLE_KEYS (say "1000000") limits the run to the listed key counts:
// testing collects garbage before every run, which takes seconds with
// millions of live entries, so the large cases are best run one process
// each.
func BenchmarkTable(b *testing.B) {
	rounds, _ := strconv.Atoi(os.Getenv("TABLE_ROUNDS"))
	for r := range max(rounds, 1) {
		b.Run(fmt.Sprint("round=", r), benchmarkTables)
	}
}

func benchmarkTables(b *testing.B) {
	for _, n := range tableKeys() {
		keys := cached(fmt.Sprint("keys", n), func() []string {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = "client-" + strconv.Itoa(i)
			}
			return keys
		})
		const idle = 1 << 62
		b.Run(fmt.Sprintf("keys=%d/map", n), func(b *testing.B) {
			t := cached(fmt.Sprint("map", n), func() *table[[MaxPolicies]windowState] {
				t := newTable[[MaxPolicies]windowState](64, max(2*n, 64), idle)
				for _, k := range keys {
					e, _, _ := t.get(k, 1)
					e.unlock()
				}
				return t
			})
			scatter(b, n, func(i int) {
				e, _, _ := t.get(keys[i], 1)
				e.state[0].curr++
				e.unlock()
			})
		})
	}
}

func tableKeys() []int {
	env := os.Getenv("TABLE_KEYS")
	if env == "" {
		return []int{1, 1_000, 100_000, 1_000_000}
	}
	var ns []int
	for f := range strings.SplitSeq(env, ",") {
		if n, err := strconv.Atoi(f); err == nil && n > 0 {
			ns = append(ns, n)
		}
	}
	return ns
}

// tables holds the filled tables across a benchmark's runs: filling a
// million keys takes longer than measuring them.
var tables = map[string]any{}

func cached[T any](name string, fill func() T) T {
	if t, ok := tables[name]; ok {
		return t.(T)
	}
	t := fill()
	tables[name] = t
	return t
}

func scatter(b *testing.B, n int, op func(i int)) {
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * (n/2 + 1)
		for pb.Next() {
			i++
			op((i * 7919) % n)
		}
	})
}
