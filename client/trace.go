package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

const instrumentationName = "github.com/backstop-go/backstop/client"

// Attribute keys: the semantic conventions' where they exist.
const (
	attrMethod      = attribute.Key("http.request.method")
	attrMethodOrig  = attribute.Key("http.request.method_original")
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

// start records the request, sent with method (req.Method, or GET for an
// empty one), on the span.
func (t tracing) start(req *http.Request, method string) {
	attrs := make([]attribute.KeyValue, 0, 5)
	if spanName(method) == "backstop.client HTTP" {
		attrs = append(attrs, attrMethod.String("_OTHER"), attrMethodOrig.String(method))
	} else {
		attrs = append(attrs, attrMethod.String(method))
	}
	attrs = append(attrs, attrURLFull.String(redactURL(req.URL)))
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
			// error.type names the failure; the error's text may quote
			// what no span may carry (a URL with its token, a body).
			t.span.SetAttributes(attrErrorType.String(errorType(err)))
			t.span.SetStatus(codes.Error, "")
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

// sensitiveQuery are the query parameters whose values the semantic
// conventions ask url.full to redact: the credentials of signed URLs
// (AWS SigV4, Azure SAS, Google Cloud Storage). Keys match case-sensitively.
var sensitiveQuery = [...]string{"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "sig", "X-Goog-Signature"}

// redactURL returns u as a string without credentials, as the semantic
// conventions ask for url.full: user info becomes REDACTED:REDACTED and
// the value of a sensitiveQuery parameter REDACTED, its key kept.
func redactURL(u *url.URL) string {
	q, redacted := redactQuery(u.RawQuery)
	if u.User == nil && !redacted {
		return u.String()
	}
	c := *u
	if c.User != nil {
		c.User = url.UserPassword("REDACTED", "REDACTED")
	}
	c.RawQuery = q
	return c.String()
}

// redactQuery replaces the values of the sensitiveQuery parameters of a
// raw query with REDACTED, leaving the rest as it was written. redacted
// reports whether it changed anything.
func redactQuery(q string) (_ string, redacted bool) {
	if !mayHoldSensitive(q) {
		return q, false // the common case: nothing to split
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || v == "" {
			continue
		}
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if slices.Contains(sensitiveQuery[:], k) {
			parts[i] = p[:len(p)-len(v)] + "REDACTED"
			redacted = true
		}
	}
	if !redacted {
		return q, false
	}
	return strings.Join(parts, "&"), true
}

// mayHoldSensitive reports whether a raw query may hold a sensitiveQuery
// parameter: one with a percent-escape (a name may be escaped) or with a
// piece of every such name ("sig", "Signature", "Credential",
// "Security"). A query without any is not split.
func mayHoldSensitive(q string) bool {
	return strings.Contains(q, "%") || strings.Contains(q, "sig") || strings.Contains(q, "Signature") ||
		strings.Contains(q, "Credential") || strings.Contains(q, "Security")
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
