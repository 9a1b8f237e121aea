package problem

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
)

// HandlerFunc is an http.Handler that returns an error. A non-nil error is
// written with [Write]: problems as they are, anything else as a generic
// 500 that is logged and never shown to the client. An error returned after
// the response started is logged and aborts the response; see
// [Writer.HandlerFunc].
//
//	mux.Handle("GET /orders/{id}", problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
//		order, err := store.Order(r.Context(), r.PathValue("id"))
//		if errors.Is(err, ErrNotFound) {
//			return problem.New(http.StatusNotFound, "There is no such order.")
//		}
//		if err != nil {
//			return err
//		}
//		return json.NewEncoder(w).Encode(order)
//	}))
type HandlerFunc func(http.ResponseWriter, *http.Request) error

// ServeHTTP calls f and writes its error, if any, with the default [Writer].
// See [Writer.HandlerFunc].
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defaultWriter.serve(f, w, r)
}

// HandlerFunc adapts f to an http.Handler that writes f's errors with wr.
//
// An error returned after f had started the response (written its header
// or part of its body, flushed, or hijacked the connection) can no longer
// become a problem: it is logged, and the handler panics with
// http.ErrAbortHandler so that net/http cuts the response short rather than
// let a truncated one look complete. The ResponseWriter f sees keeps
// http.Flusher and http.Hijacker and supports http.ResponseController
// through Unwrap, as with [Writer.Recover].
func (wr *Writer) HandlerFunc(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wr.serve(f, w, r)
	})
}

func (wr *Writer) serve(f func(http.ResponseWriter, *http.Request) error, w http.ResponseWriter, r *http.Request) {
	rw := &recoverWriter{ResponseWriter: w}
	err := f(rw, r)
	switch {
	case err == nil:
	case rw.wroteHeader:
		wr.log(r, err, "problem: handler failed after the response started; aborting the connection")
		panic(http.ErrAbortHandler)
	default:
		wr.Write(w, r, err)
	}
}

// Recover is middleware that turns a panic in next into a 500 problem,
// written and logged (with the stack) by the default [Writer]. See
// [Writer.Recover].
func Recover(next http.Handler) http.Handler { return defaultWriter.Recover(next) }

// PanicError is the cause of the 500 problem that [Writer.Recover] writes:
// the recovered value and the stack of the panicking goroutine.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic, as runtime/debug.Stack.
	Stack []byte
}

// Error implements error. It does not include the stack.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Recover is middleware that turns a panic in next into a generic 500
// problem, logging a *[PanicError] with the value and the stack.
//
// A panic with http.ErrAbortHandler is passed on untouched: it is how a
// handler asks net/http to abort the response. When next had already
// started the response, nothing can be written any more, so after logging
// Recover panics with http.ErrAbortHandler to cut the connection rather than
// let a truncated response look complete.
//
// The ResponseWriter next sees keeps http.Flusher and http.Hijacker (their
// calls return http.ErrNotSupported wrapped when the underlying writer lacks
// them) and supports http.ResponseController through Unwrap.
func (wr *Writer) Recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &recoverWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			cause := &PanicError{Value: v, Stack: debug.Stack()}
			if rw.wroteHeader {
				wr.log(r, cause, "problem: panic after the response started; aborting the connection")
				panic(http.ErrAbortHandler)
			}
			wr.Write(w, r, New(http.StatusInternalServerError, "").WithCause(cause))
		}()
		next.ServeHTTP(rw, r)
	})
}

// recoverWriter notes whether the response has started.
type recoverWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (w *recoverWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recoverWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *recoverWriter) Flush() { _ = w.FlushError() }

// FlushError flushes like Flush, and returns an error wrapping
// http.ErrNotSupported when the underlying writer cannot flush. It is what
// http.ResponseController.Flush calls.
func (w *recoverWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err == nil {
		w.wroteHeader = true
	}
	return err
}

// Hijack implements http.Hijacker.
func (w *recoverWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.wroteHeader = true
	}
	return c, rw, err
}

// Unwrap returns the underlying ResponseWriter for http.ResponseController.
func (w *recoverWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
