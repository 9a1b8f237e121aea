package client

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// maxDelay stands for a wait too long to represent: an absurd Retry-After
// or t is kept as "very long", which ends the retries, rather than
// wrapping around to a short wait.
const maxDelay = time.Duration(math.MaxInt64)

// retryAfter returns the wait that resp's Retry-After field asks for
// (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date. A date is measured
// from the response's own Date field when it has a valid one, so that the
// client's and the server's clocks need not agree, and from now otherwise.
// A date in the past means no wait. ok is false when the field is absent
// or malformed.
func retryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	vs := h["Retry-After"]
	if len(vs) == 0 {
		return 0, false
	}
	v := strings.TrimSpace(vs[0])
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, ok := parseDigits(v)
		if !ok {
			return 0, false
		}
		return secondsToDuration(secs), true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if ds := h["Date"]; len(ds) > 0 {
		if date, err := http.ParseTime(ds[0]); err == nil {
			now = date
		}
	}
	if !at.After(now) {
		return 0, true
	}
	return at.Sub(now), true // Sub saturates at the largest Duration
}

// parseDigits parses a non-empty string of ASCII digits. A value too large
// for an int64 saturates at math.MaxInt64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// secondsToDuration converts a non-negative number of seconds, saturating
// at maxDelay.
func secondsToDuration(secs int64) time.Duration {
	if secs > int64(maxDelay/time.Second) {
		return maxDelay
	}
	return time.Duration(secs) * time.Second
}

// quota is what a RateLimit field (draft-ietf-httpapi-ratelimit-headers-11
// §4) says about the client's remaining quota.
type quota struct {
	// exhausted is set when at least one policy has r=0 and a t: the
	// client should send nothing until reset has passed.
	exhausted bool
	// reset is the largest t among the exhausted policies.
	reset time.Duration
}

// rateLimit reads the RateLimit field of h: a Structured Field List
// (RFC 9651) of items, one per policy, such as
//
//	RateLimit: "burst";r=0;t=1, "hourly";r=987;t=3600
//
// whose parameters r (remaining quota) and t (seconds until more quota) are
// non-negative Integers. The field may be split over several lines. A field
// that is not a valid List is ignored whole, as the draft asks; an item
// without a valid r is ignored alone. ok reports whether the field was
// present and valid.
func rateLimit(h http.Header) (q quota, ok bool) {
	vs := h["Ratelimit"]
	if len(vs) == 0 {
		return quota{}, false
	}
	field := vs[0]
	if len(vs) > 1 {
		field = strings.Join(vs, ",")
	}
	p := sfParser{s: field}
	ok = p.list(func(params []sfParam) {
		r, t := int64(-1), int64(-1)
		for _, prm := range params {
			switch prm.key {
			case "r":
				r = prm.integer
			case "t":
				t = prm.integer
			}
		}
		if r == 0 && t >= 0 {
			q.exhausted = true
			q.reset = max(q.reset, secondsToDuration(t))
		}
	})
	if !ok {
		return quota{}, false
	}
	return q, true
}

// sfParam is one parameter of a Structured Field item. integer is the
// value when it is a non-negative Integer, and -1 otherwise.
type sfParam struct {
	key     string
	integer int64
}

// sfParser parses the parts of RFC 9651 Structured Fields that the
// RateLimit field uses: a List of Items or Inner Lists, each with
// Parameters. Every bare item type of RFC 8941 and Dates of RFC 9651 are
// parsed (and, except non-negative Integers, ignored) so that a valid
// field is never refused; anything else fails the whole field.
type sfParser struct {
	s      string
	i      int
	params [2]sfParam // r and t, the only parameters the RateLimit field uses
}

// list parses the whole input as a List and calls item with the parameters
// of each top-level item (the slice is reused between calls). It returns
// false when the input is not a valid List; item may have been called for
// the members before the error.
func (p *sfParser) list(item func([]sfParam)) bool {
	p.skipSP()
	if p.i == len(p.s) {
		return true // an empty List
	}
	for {
		if p.peek() == '(' {
			if !p.innerList() {
				return false
			}
			if _, ok := p.parameters(); !ok {
				return false
			}
		} else {
			if !p.bareItem(nil) {
				return false
			}
			params, ok := p.parameters()
			if !ok {
				return false
			}
			item(params)
		}
		p.skipOWS()
		if p.i == len(p.s) {
			return true
		}
		if p.s[p.i] != ',' {
			return false
		}
		p.i++
		p.skipOWS()
		if p.i == len(p.s) {
			return false // a trailing comma
		}
	}
}

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) innerList() bool {
	p.i++ // '('
	for p.i < len(p.s) {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			return true
		}
		if !p.bareItem(nil) {
			return false
		}
		if _, ok := p.parameters(); !ok {
			return false
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return false
		}
	}
	return false
}

// parameters parses ;key[=value] pairs. Only r and t are kept; the others
// are checked but not kept, wherever they stand.
func (p *sfParser) parameters() ([]sfParam, bool) {
	out := p.params[:0]
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		v := int64(-1)
		if p.peek() == '=' {
			p.i++
			if !p.bareItem(&v) {
				return nil, false
			}
		}
		if key != "r" && key != "t" {
			continue
		}
		// A repeated key overrides the earlier one (RFC 9651 §4.2.3.2).
		replaced := false
		for j := range out {
			if out[j].key == key {
				out[j].integer, replaced = v, true
			}
		}
		if !replaced && len(out) < cap(out) {
			out = append(out, sfParam{key: key, integer: v})
		}
	}
	return out, true
}

func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !(c >= 'a' && c <= 'z' || c == '*') {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i], true
}

// bareItem parses one bare item. When it is a non-negative Integer and
// integer is not nil, *integer is set to its value.
func (p *sfParser) bareItem(integer *int64) bool {
	c := p.peek()
	switch {
	case c == '-' || c >= '0' && c <= '9':
		n, isInt, ok := p.number()
		if ok && isInt && n >= 0 && integer != nil {
			*integer = n
		}
		return ok
	case c == '"':
		return p.str()
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '*':
		p.token()
		return true
	case c == ':':
		return p.byteSeq()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return true
		}
		return false
	case c == '@': // a Date (RFC 9651 §3.3.7): an Integer of seconds
		p.i++
		_, isInt, ok := p.number()
		return ok && isInt
	}
	return false
}

// number parses an Integer (up to 15 digits) or a Decimal (up to 12
// integer digits and 1 to 3 fraction digits), with an optional minus sign.
func (p *sfParser) number() (n int64, isInt, ok bool) {
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		n = n*10 + int64(p.s[p.i]-'0')
		p.i++
		if p.i-start > 15 {
			return 0, false, false
		}
	}
	digits := p.i - start
	if digits == 0 {
		return 0, false, false
	}
	if p.peek() != '.' {
		if neg {
			n = -n
		}
		return n, true, true
	}
	if digits > 12 {
		return 0, false, false
	}
	p.i++
	fstart := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if f := p.i - fstart; f < 1 || f > 3 {
		return 0, false, false
	}
	return 0, false, true
}

func (p *sfParser) str() bool {
	p.i++ // '"'
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.i == len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return false
			}
			p.i++
		case c == '"':
			return true
		case c < 0x20 || c > 0x7e:
			return false
		}
	}
	return false
}

func (p *sfParser) token() {
	p.i++
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
}

// isTokenChar reports whether c may follow the first character of a
// Token: tchar (RFC 9110 §5.6.2), ':' or '/'.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}

func (p *sfParser) byteSeq() bool {
	p.i++ // ':'
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == ':':
			return true
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return false
}
