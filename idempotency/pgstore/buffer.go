package pgstore

import (
	"net/http"
	"strconv"
)

// bufferWriter holds a response until the transaction that produced it
// has committed. It implements none of the optional interfaces (Flusher,
// Hijacker, Unwrap), so nothing reaches the client before sendTo.
type bufferWriter struct {
	header http.Header
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
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.body = append(b.body, p...)
	return len(p), nil
}

// sendTo writes the buffered response to w: the headers, and the status
// and body if the handler wrote any.
func (b *bufferWriter) sendTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	if b.status == 0 {
		return
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

// bodyAllowed reports whether a response of status may have a body (RFC
// 9110, section 6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
