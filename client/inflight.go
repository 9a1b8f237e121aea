package client

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/backstop-go/backstop/problem"
)

// InFlightType is the problem type URI with which a server says that the
// request's Idempotency-Key belongs to a request it is still processing:
// the URI of idempotency.ErrInFlight. A 409 of this type is the only 409
// the Transport retries; any other 409 is final.
//
// The string is repeated here rather than read from package idempotency
// because client must not import another Backstop package (each package
// stands alone, and a service's client should not compile its server
// middleware); a test of this package checks that the two agree.
const InFlightType = "https://pkg.go.dev/github.com/backstop-go/backstop/idempotency#ErrInFlight"

// maxPeek bounds the part of a 409's body read to find its problem type.
// A problem document is a few hundred bytes; a larger body is not the
// in-flight problem.
const maxPeek = 16 << 10

// inFlight reports whether resp is the in-flight problem. It reads up to
// maxPeek bytes of the body and puts them back in front of the rest, so
// that a final 409 reaches the caller whole.
func inFlight(resp *http.Response) bool {
	if resp.Body == nil || !problemMediaType(resp.Header.Get("Content-Type")) {
		return false
	}
	orig := resp.Body
	buf, err := io.ReadAll(io.LimitReader(orig, maxPeek+1))
	complete := err == nil && len(buf) <= maxPeek
	if complete {
		resp.Body = &peekedBody{Reader: bytes.NewReader(buf), closer: orig}
	} else {
		var rest io.Reader = orig
		if err != nil {
			rest = errReader{err}
		}
		resp.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(buf), rest), closer: orig}
		return false
	}
	p, perr := problem.Parse(&http.Response{
		StatusCode: resp.StatusCode,
		Header:     resp.Header,
		Body:       io.NopCloser(bytes.NewReader(buf)),
	})
	return perr == nil && p.Type == InFlightType
}

// problemMediaType reports whether a Content-Type names one of the media
// types problem.Parse reads.
func problemMediaType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	return strings.EqualFold(ct, problem.ContentTypeJSON) ||
		strings.EqualFold(ct, problem.ContentTypeXML) ||
		strings.EqualFold(ct, "application/json")
}

// peekedBody is a response body whose first bytes were read and put back.
type peekedBody struct {
	io.Reader
	closer io.Closer
}

func (b *peekedBody) Close() error { return b.closer.Close() }

// errReader returns err once the bytes before it are read, so that a
// failure met while peeking reaches the caller where it happened.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
