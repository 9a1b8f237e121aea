package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

const instrumentationName = "github.com/backstop-go/backstop/client"

// Attribute keys: the semantic conventions' where they exist.
const (
	attrMethod      = attribute.Key("http.request.method")
	attrServerAddr  = attribute.Key("server.address")
	attrServerPort  = attribute.Key("server.port")
	attrURLFull     = attribute.Key("url.full")
	attrStatus      = attribute.Key("http.response.status_code")
	attrResendCount = attribute.Key("http.request.resend_count")
	attrErrorType   = attribute.Key("error.type")
	attrDecision    = attribute.Key("backstop.client.decision")
	attrWait        = attribute.Key("backstop.client.wait")
)

// spanName returns the name of a request's span: "backstop.client"
// followed by the method, or by HTTP for a method the semantic
// conventions do not know.
func spanName(method string) string {
	switch method {
	case http.MethodGet:
		return "backstop.client GET"
	case http.MethodHead:
		return "backstop.client HEAD"
	case http.MethodPost:
		return "backstop.client POST"
	case http.MethodPut:
		return "backstop.client PUT"
	case http.MethodPatch:
		return "backstop.client PATCH"
	case http.MethodDelete:
		return "backstop.client DELETE"
	case http.MethodOptions:
		return "backstop.client OPTIONS"
	case http.MethodConnect:
		return "backstop.client CONNECT"
	case http.MethodTrace:
		return "backstop.client TRACE"
	}
	return "backstop.client HTTP"
}

// tracing records one request on its span; every method is a no-op when
// the span is not recording, and end also when there is no span.
type tracing struct {
	span trace.Span // nil when no span was started
	on   bool       // span is recording
}

func (t tracing) start(req *http.Request) {
	m := req.Method
	if spanName(m) == "backstop.client HTTP" {
		m = "_OTHER"
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, attrMethod.String(m), attrURLFull.String(redactURL(req.URL)))
	if h := req.URL.Hostname(); h != "" {
		attrs = append(attrs, attrServerAddr.String(h))
	}
	if p := port(req.URL); p > 0 {
		attrs = append(attrs, attrServerPort.Int(p))
	}
	t.span.SetAttributes(attrs...)
}

// quotaWait records a wait before the first attempt for a host's quota.
func (t tracing) quotaWait(d time.Duration) {
	if t.on {
		t.span.AddEvent("quota_wait", trace.WithAttributes(attrWait.Float64(d.Seconds())))
	}
}

// attempt records attempt n (0 for the first) as an event: its status or
// error, and what the Transport decided.
func (t tracing) attempt(n int, resp *http.Response, err error, decision string, wait time.Duration) {
	if !t.on {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	if n > 0 {
		attrs = append(attrs, attrResendCount.Int(n))
	}
	if resp != nil {
		attrs = append(attrs, attrStatus.Int(resp.StatusCode))
	} else if err != nil {
		attrs = append(attrs, attrErrorType.String(errorType(err)))
	}
	attrs = append(attrs, attrDecision.String(decision))
	if decision == "retry" {
		attrs = append(attrs, attrWait.Float64(wait.Seconds()))
	}
	t.span.AddEvent("attempt", trace.WithAttributes(attrs...))
}

// end ends the span with the outcome of the last attempt; resends is how
// many times the request was sent again.
func (t tracing) end(resp *http.Response, err error, resends int) {
	if t.on {
		if resends > 0 {
			t.span.SetAttributes(attrResendCount.Int(resends))
		}
		switch {
		case err != nil:
			t.span.SetAttributes(attrErrorType.String(errorType(err)))
			t.span.SetStatus(codes.Error, err.Error())
		case resp != nil:
			t.span.SetAttributes(attrStatus.Int(resp.StatusCode))
			if resp.StatusCode >= 400 {
				t.span.SetAttributes(attrErrorType.String(strconv.Itoa(resp.StatusCode)))
				t.span.SetStatus(codes.Error, "")
			}
		}
	}
	if t.span != nil {
		t.span.End()
	}
}

// errorType names a failure with low cardinality: "timeout", the context's
// error, or the Go type of the innermost error.
func errorType(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				err = next
				continue
			}
		case interface{ Unwrap() []error }:
			// The Transport's own wrapping puts the cause first.
			if errs := u.Unwrap(); len(errs) > 0 && errs[0] != nil {
				err = errs[0]
				continue
			}
		}
		return reflect.TypeOf(err).String()
	}
}

// redactURL returns u as a string without credentials, as the semantic
// conventions ask for url.full.
func redactURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.UserPassword("REDACTED", "REDACTED")
	return c.String()
}

// port returns u's port, explicit or implied by the scheme, or 0.
func port(u *url.URL) int {
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return n
	}
	switch u.Scheme {
	case "http":
		return 80
	case "https":
		return 443
	}
	return 0
}
