package otelx

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The attribute rules below follow otelhttp v0.72.0
// (internal/semconv/server.go and util.go) so that spans and metrics are
// the same as otelhttp's; equivalence_test.go checks them against otelhttp
// itself. They differ only where the package documentation says so.

// knownMethod returns the canonical form of a method the HTTP semantic
// conventions know, and false for any other.
func knownMethod(m string) (string, bool) {
	switch m {
	case http.MethodGet:
		return http.MethodGet, true
	case http.MethodPost:
		return http.MethodPost, true
	case http.MethodPut:
		return http.MethodPut, true
	case http.MethodDelete:
		return http.MethodDelete, true
	case http.MethodPatch:
		return http.MethodPatch, true
	case http.MethodHead:
		return http.MethodHead, true
	case http.MethodOptions:
		return http.MethodOptions, true
	case http.MethodConnect:
		return http.MethodConnect, true
	case http.MethodTrace:
		return http.MethodTrace, true
	}
	if len(m) > len(http.MethodOptions) || m == strings.ToUpper(m) {
		return "", false
	}
	return knownMethod(strings.ToUpper(m))
}

// methodAttrs returns http.request.method and, when the request's method
// is not in canonical form, http.request.method_original (else the zero
// KeyValue).
func methodAttrs(m string) (attribute.KeyValue, attribute.KeyValue) {
	if m == "" {
		return semconv.HTTPRequestMethodOther, attribute.KeyValue{}
	}
	canon, ok := knownMethod(m)
	switch {
	case ok && canon == m:
		return semconv.HTTPRequestMethodKey.String(canon), attribute.KeyValue{}
	case ok:
		return semconv.HTTPRequestMethodKey.String(canon), semconv.HTTPRequestMethodOriginal(m)
	}
	return semconv.HTTPRequestMethodOther, semconv.HTTPRequestMethodOriginal(m)
}

// metricMethod is http.request.method as metrics record it: a known method
// or _OTHER, so that clients cannot create series.
func metricMethod(m string) string {
	if canon, ok := knownMethod(m); ok {
		return canon
	}
	return "_OTHER"
}

// spanMethod is the method part of a span name: "HTTP" for unknown methods.
func spanMethod(m string) string {
	if canon, ok := knownMethod(m); ok {
		return canon
	}
	return "HTTP"
}

// spanName is "{method} {route}", or "{method}" without a route. pattern
// is the ServeMux pattern the route came from, if any: when it reads
// exactly "{method} {route}" it is the name, and no string is built.
func spanName(method, route, pattern string) string {
	sm := spanMethod(method)
	if route == "" {
		return sm
	}
	if len(pattern) == len(sm)+1+len(route) && strings.HasPrefix(pattern, sm) &&
		pattern[len(sm)] == ' ' && strings.HasSuffix(pattern, route) {
		return pattern
	}
	return sm + " " + route
}

// routeOfPattern is the path part of a ServeMux pattern
// ("[METHOD ][HOST]/PATH"), the http.route the conventions want.
func routeOfPattern(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// splitHostPort splits "host", "host:port", "[host]" or "[host]:port";
// the port is -1 when absent or not a port number.
func splitHostPort(hostport string) (host string, port int) {
	port = -1
	if strings.HasPrefix(hostport, "[") {
		end := strings.LastIndexByte(hostport, ']')
		if end < 0 {
			return "", port
		}
		if strings.LastIndexByte(hostport[end:], ':') < 0 {
			return hostport[1:end], port
		}
	} else if !strings.Contains(hostport, ":") {
		return hostport, port
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return host, port
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return host, port
	}
	return host, int(n)
}

// nonDefaultPort returns port unless it is the scheme's default (or
// absent), in which case it returns -1.
func nonDefaultPort(https bool, port int) int {
	if port <= 0 || (https && port == 443) || (!https && port == 80) {
		return -1
	}
	return port
}

// netProtocol splits r.Proto ("HTTP/1.1") into network.protocol.name and
// network.protocol.version.
func netProtocol(proto string) (name, version string) {
	name, version, _ = strings.Cut(proto, "/")
	switch name {
	case "HTTP":
		name = "http"
	case "QUIC":
		name = "quic"
	case "SPDY":
		name = "spdy"
	default:
		name = strings.ToLower(name)
	}
	return name, version
}

// scheme is url.scheme: what the connection to this server was.
func scheme(https bool) string {
	if https {
		return "https"
	}
	return "http"
}

// statusErrorType is error.type for a response status that is an error
// for a server (5xx), else "".
func statusErrorType(status int) string {
	if status < 500 || status > 599 {
		return ""
	}
	return strconv.Itoa(status)
}

// validString returns s, or s with each invalid UTF-8 sequence replaced
// by U+FFFD. The client chooses the bytes of the Host, path, User-Agent
// and X-Forwarded-For; OTLP carries attribute values as protobuf strings,
// which must be UTF-8, and an exporter drops the whole batch of a value
// it cannot marshal.
func validString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// appendRequestAttrs appends the span attributes of a request, as
// otelhttp's RequestTraceAttrs does (less http.route, which the caller
// adds once the handler has run).
func appendRequestAttrs(attrs []attribute.KeyValue, r *http.Request) []attribute.KeyValue {
	https := r.TLS != nil
	host, port := splitHostPort(r.Host)
	method, original := methodAttrs(r.Method)
	attrs = append(attrs, semconv.ServerAddress(validString(host)), method, semconv.URLScheme(scheme(https)))
	if p := nonDefaultPort(https, port); p > 0 {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	if original.Valid() {
		attrs = append(attrs, original)
	}
	peer, peerPort := splitHostPort(r.RemoteAddr)
	if peer != "" {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer))
		if peerPort > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(peerPort))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(validString(ua)))
	}
	// Like otelhttp: the first X-Forwarded-For element, else the peer.
	// Any client can write that header; see the package documentation.
	client := r.Header.Get("X-Forwarded-For")
	if i := strings.IndexByte(client, ','); i >= 0 {
		client = client[:i]
	}
	if client == "" {
		client = peer
	}
	if client != "" {
		attrs = append(attrs, semconv.ClientAddress(validString(client)))
	}
	if r.URL != nil && r.URL.Path != "" {
		attrs = append(attrs, semconv.URLPath(validString(r.URL.Path)))
	}
	name, version := netProtocol(r.Proto)
	if name != "" && name != "http" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	return attrs
}
