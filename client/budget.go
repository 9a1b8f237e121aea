package client

import (
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tokenUnit is one retry in the budget's fixed-point token count.
const tokenUnit = 1_000_000

// maxHosts bounds the per-host state a Transport keeps. Past it, an
// arbitrary host's state is dropped to make room: its budget starts full
// again, which errs towards allowing retries.
const maxHosts = 1024

// hostKey names a host: a URL's host name, in lower case as host names
// are case-insensitive (RFC 3986 §3.2.2), and its port, explicit or the
// scheme's default (0 for another scheme). Every spelling of one
// host:port (API.test, api.test:443 and api.test in https URLs) thus
// shares one state.
type hostKey struct {
	name string
	port int
}

// keyOf returns the hostKey of u. It allocates only for a host name with
// upper-case letters.
func keyOf(u *url.URL) hostKey {
	return hostKey{name: strings.ToLower(u.Hostname()), port: port(u)}
}

// host is what a Transport remembers of one host (see hostKey).
type host struct {
	// tokens is the retry budget in units of 1/tokenUnit retry: each call
	// deposits Budget.Ratio of a retry, each retry withdraws one, and the
	// balance never exceeds Budget.Reserve.
	tokens atomic.Int64
	// blockedUntil is when the last RateLimit field of the host said quota
	// returns, in nanoseconds since the Transport's epoch; 0 when none is
	// exhausted.
	blockedUntil atomic.Int64
}

// hostTable maps hosts to their state.
type hostTable struct {
	mu    sync.RWMutex
	hosts map[hostKey]*host
}

// get returns the state of name, creating it with a full budget of
// reserve tokens.
func (t *hostTable) get(name hostKey, reserve int64) *host {
	t.mu.RLock()
	h := t.hosts[name]
	t.mu.RUnlock()
	if h != nil {
		return h
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if h = t.hosts[name]; h != nil {
		return h
	}
	if t.hosts == nil {
		t.hosts = make(map[hostKey]*host)
	}
	if len(t.hosts) >= maxHosts {
		for k := range t.hosts {
			delete(t.hosts, k)
			break
		}
	}
	h = new(host)
	h.tokens.Store(reserve)
	t.hosts[name] = h
	return h
}

// deposit adds one call's share of retries, up to the reserve. At the cap
// it only reads, so that a healthy host costs no contended write.
func (h *host) deposit(share, reserve int64) {
	for {
		v := h.tokens.Load()
		if v >= reserve {
			return
		}
		if h.tokens.CompareAndSwap(v, min(v+share, reserve)) {
			return
		}
	}
}

// withdraw takes one retry from the budget, or reports that there is
// none left.
func (h *host) withdraw() bool {
	for {
		v := h.tokens.Load()
		if v < tokenUnit {
			return false
		}
		if h.tokens.CompareAndSwap(v, v-tokenUnit) {
			return true
		}
	}
}

// block records that the host's quota returns at until (since the epoch).
func (h *host) block(until time.Duration) { h.blockedUntil.Store(int64(until)) }

// unblock forgets a recorded exhaustion.
func (h *host) unblock() {
	if h.blockedUntil.Load() != 0 {
		h.blockedUntil.Store(0)
	}
}

// blockedFor returns how long from now the host's quota stays exhausted.
func (h *host) blockedFor(now time.Duration) time.Duration {
	u := h.blockedUntil.Load()
	if u == 0 {
		return 0
	}
	return max(0, time.Duration(u)-now)
}
