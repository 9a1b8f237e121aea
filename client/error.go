package client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/backstop-go/backstop/problem"
)

// Reasons a Transport gave up retrying a request that failed without a
// response. The error RoundTrip returns then wraps both the last attempt's
// error and one of these, so errors.Is finds either.
var (
	// ErrBodyNotReplayable means that the request's body can be read only
	// once (it has no GetBody, or GetBody failed), so the request was sent
	// once and not retried.
	// http.NewRequest sets GetBody for *bytes.Buffer, *bytes.Reader and
	// *strings.Reader bodies.
	ErrBodyNotReplayable = errors.New("client: request body cannot be replayed, so it was not retried")

	// ErrBudgetExhausted means that the retry budget of the request's host
	// was spent (see Options.Budget).
	ErrBudgetExhausted = errors.New("client: retry budget of the host is exhausted")

	// ErrWaitTooLong means that the wait before the next attempt was longer
	// than Options.MaxWait, or would have ended after the context's
	// deadline.
	ErrWaitTooLong = errors.New("client: the wait before the next attempt is too long")

	// ErrAttemptsExhausted means that the request was tried
	// Options.MaxAttempts times.
	ErrAttemptsExhausted = errors.New("client: every allowed attempt failed")
)

// maxErrorBody bounds the body that [Error] keeps when it is not a problem
// document.
const maxErrorBody = 4 << 10

// StatusError is the error [Error] returns for a response with a status of
// 400 or more. When the body was an RFC 9457 problem document, Problem holds
// it and Unwrap returns it, so that
//
//	errors.Is(err, idempotency.ErrKeyReused)
//
// tells the kind of failure by the same [problem.Type] value the server
// declared, and problem.From(err) returns the problem.
type StatusError struct {
	// StatusCode is the response's status code.
	StatusCode int
	// Header is the response's header.
	Header http.Header
	// Problem is the parsed problem document, or nil when the body held
	// none.
	Problem *problem.Problem
	// Body holds the first 4 KiB of a body that is not a problem document
	// (nil when Problem is set), for logs and diagnostics.
	Body []byte
}

// Error returns the status and, for a problem, its title and detail.
func (e *StatusError) Error() string {
	if e.Problem != nil {
		return "client: " + e.Problem.Error()
	}
	return "client: " + strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
}

// Unwrap returns the problem, or nil.
func (e *StatusError) Unwrap() error {
	if e.Problem == nil {
		return nil
	}
	return e.Problem
}

// Error returns nil when resp's status is below 400, and otherwise reads
// and closes resp.Body and returns a *[StatusError] carrying the status,
// the header and the body's problem document, parsed by [problem.Parse]:
//
//	resp, err := c.Do(req)
//	if err != nil {
//		return err
//	}
//	defer resp.Body.Close()
//	if err := client.Error(resp); err != nil {
//		if errors.Is(err, orders.ErrOutOfStock) { ... }
//		return err
//	}
//
// It reads at most [problem.MaxParseSize] bytes of the body.
func Error(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	e := &StatusError{StatusCode: resp.StatusCode, Header: resp.Header}
	if resp.Body == nil {
		return e
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, problem.MaxParseSize))
	parsed := *resp
	parsed.Body = io.NopCloser(bytes.NewReader(body))
	if p, err := problem.Parse(&parsed); err == nil {
		e.Problem = p
		return e
	}
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody:maxErrorBody]
	}
	if len(body) > 0 {
		e.Body = body
	}
	return e
}
