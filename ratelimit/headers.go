package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/backstop-go/backstop/internal/headerval"
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
// its own, which its handler may rewrite without touching another's,
// carved from chunks: an allocation per value (and its collection) was a
// fifth of the middleware's time.
func (m *Middleware) setHeaders(h http.Header, d *Decision) {
	c := headerval.Get()
	h[hdrPolicy] = c.Value(m.policyHeader)
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
		h[hdrRateLimit] = c.Bytes(b)
	}
	headerval.Put(c)
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
