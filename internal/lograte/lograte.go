// Package lograte bounds how often a failure that repeats on every request
// (a store outage, seen by each request in turn) is logged: one record per
// interval, carrying the number of records left out since the previous one.
package lograte

import (
	"sync/atomic"
	"time"
)

// Limiter lets one record through per interval. The zero value is ready to
// use and lets the first record through. It is safe for concurrent use and
// does not allocate.
type Limiter struct {
	last    atomic.Int64 // unix nanos of the last record let through; 0 before any
	dropped atomic.Int64 // records refused since then
}

// Allow reports whether a record may be written at now, at most one per
// every. When it may, suppressed is the number of records refused since
// the previous one (to be logged with it), and the count starts again.
func (l *Limiter) Allow(now time.Time, every time.Duration) (suppressed int64, ok bool) {
	n := now.UnixNano()
	last := l.last.Load()
	if (last == 0 || n-last >= int64(every)) && l.last.CompareAndSwap(last, n) {
		return l.dropped.Swap(0), true
	}
	l.dropped.Add(1)
	return 0, false
}
