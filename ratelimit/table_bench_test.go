package ratelimit

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkTable compares the table (a Go map per shard under the shard's
// lock) with the lock-free slot cache it replaced (table_slots_test.go):
// a lookup, a counter update and the unlock, for one hot key and for 1k,
// 100k and 1M live keys touched in scattered order (key i·7919 mod n),
// MaxKeys twice the keys. Run with -cpu 1,2 and compare with benchstat.
//
//	go test -run '^$' -bench 'Table' -count 10 -cpu 1,2 ./ratelimit/
func BenchmarkTable(b *testing.B) {
	for _, n := range []int{1, 1_000, 100_000, 1_000_000} {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = "client-" + strconv.Itoa(i)
		}
		const idle = 1 << 62
		b.Run(fmt.Sprintf("keys=%d/map", n), func(b *testing.B) {
			t := newTable[[MaxPolicies]windowState](64, max(2*n, 64), idle)
			for _, k := range keys {
				e, _ := t.get(k, 1)
				e.unlock()
			}
			scatter(b, n, func(i int) {
				e, _ := t.get(keys[i], 1)
				e.state[0].curr++
				e.unlock()
			})
		})
		b.Run(fmt.Sprintf("keys=%d/slots", n), func(b *testing.B) {
			t := newSlotTable[[MaxPolicies]windowState](64, max(2*n, 64), idle)
			for _, k := range keys {
				e, _ := t.get(k, 1)
				e.mu.Unlock()
			}
			scatter(b, n, func(i int) {
				e, _ := t.get(keys[i], 1)
				e.state[0].curr++
				e.mu.Unlock()
			})
		})
	}
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
