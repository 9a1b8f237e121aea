package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Canonical header keys, assigned directly to skip canonicalisation.
const (
	hdrPolicy     = "Ratelimit-Policy"
	hdrRateLimit  = "Ratelimit"
	hdrRetryAfter = "Retry-After"
	hdrXLimit     = "X-Ratelimit-Limit"
	hdrXRemaining = "X-Ratelimit-Remaining"
	hdrXReset     = "X-Ratelimit-Reset"
)

// policyValue formats the constant RateLimit-Policy value and returns it
// with each policy's quoted name.
func policyValue(policies []Policy) (value string, names [][]byte) {
	var b []byte
	for i, p := range policies {
		if i > 0 {
			b = append(b, ", "...)
		}
		name := strconv.AppendQuote(nil, p.Name) // names are [A-Za-z0-9_.-]: no escapes
		names = append(names, name)
		b = append(b, name...)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, min(p.Limit, maxSFInteger), 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, int64(p.Window/time.Second), 10)
	}
	return string(b), names
}

// setHeaders sets the RateLimit-Policy field and, when d has results, the
// RateLimit field: one item per policy. Each request gets value slices of
// its own, which its handler may rewrite without touching another's.
func (m *Middleware) setHeaders(h http.Header, d *Decision) {
	c := valueChunks.Get().(*valueChunk)
	h[hdrPolicy] = c.value(m.policyHeader)
	if d.Len() > 0 {
		var buf [256]byte
		b := buf[:0]
		for i := 0; i < d.Len(); i++ {
			if i > 0 {
				b = append(b, ", "...)
			}
			r := d.Result(i)
			b = append(b, m.names[i]...)
			b = append(b, ";r="...)
			b = strconv.AppendInt(b, min(r.Remaining, maxSFInteger), 10)
			b = append(b, ";t="...)
			b = strconv.AppendInt(b, int64(ceilSeconds(r.Reset)/time.Second), 10)
		}
		h[hdrRateLimit] = c.carve(b)
	}
	valueChunks.Put(c)
}

// valueChunk is where header values are carved from, as net/textproto
// does for the header values of one request: two values are set on every
// request, and an allocation per value (and its collection) was a fifth
// of the middleware's time. A chunk belongs to one goroutine between its
// Get from valueChunks and its Put. Every slice and byte range is handed
// out once and its bytes are never written after the string is made; each
// slice's capacity is 1, so an append to it cannot reach a neighbour.
type valueChunk struct {
	strs []string // unused value slices
	buf  []byte   // unused bytes
}

const (
	chunkValues = 64   // values per []string allocation
	chunkBytes  = 2048 // bytes per []byte allocation
	maxCarved   = 128  // longer values get their own allocation
)

var valueChunks = sync.Pool{New: func() any { return new(valueChunk) }}

// value returns []string{v}, the slice carved from c.
func (c *valueChunk) value(v string) []string {
	if len(c.strs) == 0 {
		c.strs = make([]string, chunkValues)
	}
	s := c.strs[:1:1]
	c.strs = c.strs[1:]
	s[0] = v
	return s
}

// carve returns []string{string(b)}, the slice and the string's bytes
// carved from c.
func (c *valueChunk) carve(b []byte) []string {
	if len(b) == 0 || len(b) > maxCarved {
		return []string{string(b)}
	}
	if len(c.buf) < len(b) {
		c.buf = make([]byte, chunkBytes)
	}
	n := copy(c.buf, b)
	v := unsafe.String(&c.buf[0], n)
	c.buf = c.buf[n:]
	return c.value(v)
}

// maxSFInteger is the largest integer a structured field can carry (RFC 9651
// §3.3.1); a larger one makes a parser reject the whole field.
const maxSFInteger = 999_999_999_999_999

// ceilSeconds rounds d up to whole seconds: a client told to wait less than
// the real time would be denied again.
func ceilSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	if d > math.MaxInt64-time.Second {
		return d
	}
	return (d + time.Second - 1) / time.Second * time.Second
}
