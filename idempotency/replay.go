package idempotency

import (
	"fmt"
	"log/slog"
	"net/http"
)

// replay writes a recorded response. The header values are copied: the
// store's response is shared with every replay, and what reaches the
// ResponseWriter belongs to the code around the middleware.
func (m *Middleware) replay(w http.ResponseWriter, r *http.Request, key RecordKey, resp Response, header recordedHeader) {
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
	// One backing array for the values, HeaderReplayed's included, when
	// each header has one value (the usual case); each header's values
	// are a capped slice of it, so a later append copies.
	all := make([]string, 1, len(resp.Header)+len(header)+1)
	all[0] = "true"
	h := w.Header()
	h[HeaderReplayed] = all[0:1:1]
	for k, v := range resp.Header {
		start := len(all)
		all = append(all, v...)
		h[k] = all[start:len(all):len(all)]
	}
	for _, f := range header { // from a MemoryStore, in place of resp.Header
		start := len(all)
		all = append(all, f.values...)
		h[f.name] = all[start:len(all):len(all)]
	}
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead && len(resp.Body) > 0 {
		_, _ = w.Write(resp.Body)
	}
}
