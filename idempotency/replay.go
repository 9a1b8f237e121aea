package idempotency

import (
	"fmt"
	"log/slog"
	"net/http"
)

// replay writes a recorded response. The header values are copied: the
// store's response is shared with every replay, and what reaches the
// ResponseWriter belongs to the code around the middleware.
func (m *Middleware) replay(w http.ResponseWriter, r *http.Request, key RecordKey, resp Response) {
	if resp.NotReplayable != "" {
		m.record(r.Context(), outNotReplayable, 0)
		m.opts.ErrorHandler(w, r, ErrNotReplayable.New("The request with this key was processed, but its response was not recorded.").
			With("reason", string(resp.NotReplayable)).With("originalStatus", resp.Status))
		return
	}
	if resp.Status < 200 || resp.Status > 999 {
		// A corrupt record (net/http panics on such a code): fail closed as
		// for any other store failure, never run the request again.
		m.record(r.Context(), outStoreError, 0)
		err := fmt.Errorf("idempotency: stored response has status %d", resp.Status)
		m.log(r.Context(), slog.LevelError, "idempotency: store returned an invalid response", key, err)
		m.opts.ErrorHandler(w, r, ErrUnavailable.New("The idempotency store gave an invalid answer.").
			WithHeader("Retry-After", m.retryAfter).WithCause(err))
		return
	}
	m.record(r.Context(), outReplayed, 0)
	n := 1
	for _, v := range resp.Header {
		n += len(v)
	}
	// One backing array for every value, HeaderReplayed's last.
	all := make([]string, 0, n)
	h := w.Header()
	for k, v := range resp.Header {
		start := len(all)
		all = append(all, v...)
		h[k] = all[start:len(all):len(all)]
	}
	all = append(all, "true")
	h[HeaderReplayed] = all[n-1 : n : n]
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead && len(resp.Body) > 0 {
		_, _ = w.Write(resp.Body)
	}
}
