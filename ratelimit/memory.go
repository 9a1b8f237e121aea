package ratelimit

import (
	"errors"
	"time"
)

// MemoryOptions configures the in-memory limiters. The zero value is ready to
// use.
type MemoryOptions struct {
	// MaxKeys caps the number of keys tracked at once. When a shard is full
	// it forgets an approximately least-recently-used key (CLOCK: a key
	// used since the last eviction sweep passed it survives), whose
	// counters restart from zero. Keys being denied are forgotten last,
	// only when a shard holds nothing else: forgetting one would reset its
	// quota, so a client flooding the limiter with new keys cannot reset
	// its own exhausted key. Default 100 000, which is about 15 MB with one
	// policy and 21 MB with more (keys longer than 27 bytes add their own
	// length).
	MaxKeys int
	// Shards is the number of independently locked shards, rounded up to a
	// power of two (down, when that would exceed MaxKeys). Default 64.
	Shards int
	// Clock returns the current time. Only differences between readings are
	// used, so the default time.Now is monotonic. Tests inject a fake clock.
	Clock func() time.Time
}

func (o MemoryOptions) withDefaults() (MemoryOptions, error) {
	if o.MaxKeys < 0 || o.Shards < 0 {
		return o, errors.New("ratelimit: MaxKeys and Shards must not be negative")
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = 100_000
	}
	if o.Shards == 0 {
		o.Shards = 64
	}
	if o.Shards > o.MaxKeys {
		o.Shards = o.MaxKeys
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o, nil
}

// MaxWindow returns the longest window of policies: after two of them
// without traffic a sliding-window key holds no state.
func MaxWindow(policies []Policy) time.Duration {
	var w time.Duration
	for _, p := range policies {
		w = max(w, p.Window)
	}
	return w
}
