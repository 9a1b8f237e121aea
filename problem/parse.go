package problem

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// ErrNotProblem is returned by [Parse] for a response whose body is not a
// problem document.
var ErrNotProblem = errors.New("problem: response is not a problem document")

// MaxParseSize is the most of a response body that [Parse] reads.
const MaxParseSize = 1 << 20

// Parse reads the problem in resp's body: application/problem+json,
// application/problem+xml, or plain application/json holding an object. It
// is for Go clients of services that write problems, and for tests.
//
// Parsing is as lenient as RFC 9457 §3.1 asks: members of the wrong type
// are ignored and a missing type is about:blank. A missing status is taken
// from the response. The problem's Header is resp.Header. Parse reads at
// most [MaxParseSize] bytes and does not close the body. It returns an
// error wrapping [ErrNotProblem] when the media type is none of the above
// or the body (empty when resp.Body is nil) holds no problem.
func Parse(resp *http.Response) (*Problem, error) {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotProblem, err)
	}
	var body []byte
	if resp.Body != nil { // a Response built by hand, as in a test
		if body, err = io.ReadAll(io.LimitReader(resp.Body, MaxParseSize)); err != nil {
			return nil, fmt.Errorf("problem: reading body: %w", err)
		}
	}
	p := new(Problem)
	switch mt {
	case ContentTypeJSON, "application/json":
		err = p.UnmarshalJSON(body)
	case ContentTypeXML:
		err = p.unmarshalXML(body)
	default:
		return nil, fmt.Errorf("%w: media type %q", ErrNotProblem, mt)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotProblem, err)
	}
	if p.Status == 0 {
		p.Status = resp.StatusCode
	}
	p.Header = resp.Header
	return p, nil
}
