package lograte

import (
	"sync"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	var l Limiter
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at             time.Duration
		wantOK         bool
		wantSuppressed int64
	}{
		{0, true, 0},                 // the first record goes through
		{time.Millisecond, false, 0}, // within the interval: counted
		{999 * time.Millisecond, false, 0},
		{time.Second, true, 2}, // one interval later, with the count
		{time.Second + 1, false, 0},
		{5 * time.Second, true, 1},
		{6 * time.Second, true, 0}, // nothing left out since the last one
	}
	for _, s := range steps {
		sup, ok := l.Allow(t0.Add(s.at), time.Second)
		if ok != s.wantOK || sup != s.wantSuppressed {
			t.Fatalf("Allow at +%v = %d, %v; want %d, %v", s.at, sup, ok, s.wantSuppressed, s.wantOK)
		}
	}
}

// Concurrent callers within one interval: exactly one record goes through,
// and every other call is counted for the next.
func TestAllowConcurrent(t *testing.T) {
	var l Limiter
	now := time.Unix(1_700_000_000, 0)
	const n = 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	through := 0
	for range n {
		wg.Go(func() {
			if _, ok := l.Allow(now, time.Second); ok {
				mu.Lock()
				through++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sup, ok := l.Allow(now.Add(time.Second), time.Second)
	if through != 1 || !ok || sup != n-1 {
		t.Fatalf("through = %d, then Allow = %d, %v; want 1, then %d, true", through, sup, ok, n-1)
	}
}

func BenchmarkAllowRefused(b *testing.B) {
	var l Limiter
	now := time.Now()
	l.Allow(now, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(now, time.Hour)
	}
}
