package pgstore

import (
	"net/http"
	"strconv"
	"strings"
)

// bufferWriter holds a response until the transaction that produced it
// has committed. It implements none of the optional interfaces (Flusher,
// Hijacker, Unwrap), so nothing reaches the client before sendTo.
type bufferWriter struct {
	header http.Header
	sent   http.Header // header when the status was written: later changes are not sent, as in net/http
	status int
	body   []byte
}

func (b *bufferWriter) Header() http.Header {
	if b.header == nil {
		b.header = make(http.Header)
	}
	return b.header
}

func (b *bufferWriter) WriteHeader(code int) {
	if b.status != 0 || (code >= 100 && code < 200) {
		return // a superfluous call, or an informational response
	}
	b.status = code
	b.sent = b.header.Clone()
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.WriteHeader(http.StatusOK)
	}
	b.body = append(b.body, p...)
	return len(p), nil
}

// sendTo writes the buffered response to w: the headers, and the status
// and body if the handler wrote any.
func (b *bufferWriter) sendTo(w http.ResponseWriter) {
	h := w.Header()
	hdr := b.header
	if b.status != 0 {
		hdr = b.sent
	}
	for k, v := range hdr {
		h[k] = v
	}
	if b.status == 0 {
		return
	}
	// Trailers are the headers a handler may still set after the status.
	for k, v := range b.header {
		if _, ok := hdr[k]; !ok && isTrailer(hdr, k) {
			h[k] = v
		}
	}
	if h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" && bodyAllowed(b.status) {
		// What net/http would add to a response not flushed, and keeps
		// a response flushed by sendTo's caller from being chunked.
		h.Set("Content-Length", strconv.Itoa(len(b.body)))
	}
	w.WriteHeader(b.status)
	if len(b.body) > 0 {
		_, _ = w.Write(b.body)
	}
}

// isTrailer reports whether k names a trailer of a response with header h.
func isTrailer(h http.Header, k string) bool {
	if strings.HasPrefix(k, http.TrailerPrefix) {
		return true
	}
	for _, v := range h["Trailer"] {
		for d := range strings.SplitSeq(v, ",") {
			if http.CanonicalHeaderKey(strings.TrimSpace(d)) == k {
				return true
			}
		}
	}
	return false
}

// bodyAllowed reports whether a response of status may have a body (RFC
// 9110, section 6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
