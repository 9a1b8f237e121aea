package bench

// Client benchmarks: the overhead of backstop's client.Transport on a
// request that succeeds the first time, against the bare transport it
// wraps and against hashicorp/go-retryablehttp (through its
// StandardClient, so that all three are driven by the same http.Client.Do).
//
// "memory" sends requests to an in-memory RoundTripper that answers 200 at
// once, so that the difference between rows is the wrapper's own cost; the
// figures the targets are about. "loopback" sends them to an
// httptest server through a real http.Transport, to show that cost next to
// a request's. Both libraries run with their defaults, except that
// go-retryablehttp's logger is off (it logs every request by default;
// backstop logs only retries, at debug level).
//
// Besides ns/op (wall time) each benchmark reports cpu-ns/op, the process's
// CPU time per request (user and system, GC included): on a machine shared
// with other work, the wall clock also counts the time the benchmark was
// waiting for a core, and cpu-ns/op is the steadier figure to compare.
//
//	go test -run '^$' -bench 'Client' -benchmem -count 6 .

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/backstop-go/backstop/client"
)

// okTransport answers every request with 200 and an empty body.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: r,
	}, nil
}

const clientBody = `{"item":"tea","count":3,"currency":"eur","note":"bench order 0001"}`

func BenchmarkClient(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	targets := []struct {
		name string
		url  string
		rt   func() http.RoundTripper
	}{
		{"memory", "http://api.test/orders", func() http.RoundTripper { return okTransport{} }},
		{"loopback", srv.URL + "/orders", func() http.RoundTripper {
			return &http.Transport{MaxIdleConnsPerHost: 8}
		}},
	}
	for _, tg := range targets {
		clients := []struct {
			name string
			c    func() *http.Client
		}{
			{"bare", func() *http.Client { return &http.Client{Transport: tg.rt()} }},
			{"backstop", func() *http.Client { return &http.Client{Transport: client.New(tg.rt(), client.Options{})} }},
			{"retryablehttp", func() *http.Client {
				rc := retryablehttp.NewClient()
				rc.HTTPClient = &http.Client{Transport: tg.rt()}
				rc.Logger = nil
				return rc.StandardClient()
			}},
		}
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, cl := range clients {
				b.Run(tg.name+"/"+method+"/"+cl.name, func(b *testing.B) {
					c := cl.c()
					defer c.CloseIdleConnections()
					get, _ := http.NewRequest(http.MethodGet, tg.url, nil)
					b.ReportAllocs()
					cpu, n := processCPU(), 0
					for b.Loop() {
						n++
						req := get
						if method == http.MethodPost {
							req, _ = http.NewRequest(http.MethodPost, tg.url, strings.NewReader(clientBody))
						}
						resp, err := c.Do(req)
						if err != nil {
							b.Fatal(err)
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Fatal(resp.Status)
						}
					}
					b.ReportMetric(float64(processCPU()-cpu)/float64(n), "cpu-ns/op")
				})
			}
		}
	}
}
