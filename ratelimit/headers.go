package ratelimit

import (
	"math"
	"strconv"
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
func policyValue(policies []Policy) (value []string, names [][]byte) {
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
	return []string{string(b)}, names
}

// rateLimitValue formats the RateLimit field, one item per policy, as a
// header value slice.
func (m *Middleware) rateLimitValue(d *Decision) []string {
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
	return headerValue(b)
}

// smallValue holds a header value slice and its bytes in one allocation.
type smallValue struct {
	v   [1]string
	buf [96]byte
}

// headerValue returns []string{string(b)}. Values that fit (one or two
// policies with short names) cost one allocation instead of two: the
// string's bytes live in the same object as the slice, and are never
// written after the string is made.
func headerValue(b []byte) []string {
	if len(b) == 0 || len(b) > len(smallValue{}.buf) {
		return []string{string(b)}
	}
	sv := new(smallValue)
	n := copy(sv.buf[:], b)
	sv.v[0] = unsafe.String(&sv.buf[0], n)
	return sv.v[:]
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
