// Package clocktest provides the manual clock that Backstop's tests and
// conformance suites inject into in-memory stores, limiters and codecs.
package clocktest

import (
	"sync"
	"time"
)

// Start is the instant a new Clock shows: fixed, so tests are repeatable.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a manual clock: Now returns a fixed instant that only Advance
// and Set move. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock set to [Start].
func New() *Clock { return &Clock{now: Start} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
