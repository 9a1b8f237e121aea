package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/backstop-go/backstop/client"
	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
)

// TestRetryRules pins which requests are retried after which answers,
// against a scripted server.
func TestRetryRules(t *testing.T) {
	s503 := step{status: 503, body: "busy"}
	inFlight := step{prob: idempotency.ErrInFlight.New("still running")}
	tests := []struct {
		name     string
		method   string
		key      string // a caller's own Idempotency-Key
		noKey    bool   // RequestOptions.NoKey
		steps    []step
		hits     int // requests the server sees
		status   int // final status; 0 means an error
		wantBody string
	}{
		{name: "GET retried after 503", method: "GET", steps: []step{s503}, hits: 2, status: 200},
		{name: "GET retried after 408", method: "GET", steps: []step{{status: 408}}, hits: 2, status: 200},
		{name: "GET retried after 425", method: "GET", steps: []step{{status: 425}}, hits: 2, status: 200},
		{name: "GET retried after 429", method: "GET", steps: []step{{status: 429}}, hits: 2, status: 200},
		{name: "GET retried after 502", method: "GET", steps: []step{{status: 502}}, hits: 2, status: 200},
		{name: "GET retried after 504", method: "GET", steps: []step{{status: 504}}, hits: 2, status: 200},
		{name: "GET retried after a cut connection", method: "GET", steps: []step{{cut: true}, {cut: true}}, hits: 3, status: 200},
		{name: "HEAD retried", method: "HEAD", steps: []step{s503}, hits: 2, status: 200},
		{name: "OPTIONS retried", method: "OPTIONS", steps: []step{s503}, hits: 2, status: 200},
		{name: "PUT retried", method: "PUT", steps: []step{s503}, hits: 2, status: 200},
		{name: "DELETE retried", method: "DELETE", steps: []step{s503}, hits: 2, status: 200},
		{name: "500 is final", method: "GET", steps: []step{{status: 500, body: "boom"}}, hits: 1, status: 500, wantBody: "boom"},
		{name: "422 is final", method: "POST", steps: []step{{prob: idempotency.ErrKeyReused.New("")}}, hits: 1, status: 422},
		{name: "400 is final", method: "GET", steps: []step{{status: 400}}, hits: 1, status: 400},
		{name: "401 is final", method: "GET", steps: []step{{status: 401}}, hits: 1, status: 401},
		{name: "403 is final", method: "GET", steps: []step{{status: 403}}, hits: 1, status: 403},
		{name: "404 is final", method: "GET", steps: []step{{status: 404}}, hits: 1, status: 404},
		{name: "501 is final", method: "GET", steps: []step{{status: 501}}, hits: 1, status: 501},
		{name: "409 in flight is retried", method: "POST", steps: []step{inFlight, inFlight}, hits: 3, status: 200},
		{name: "409 not replayable is final", method: "POST", steps: []step{{prob: idempotency.ErrNotReplayable.New("streamed")}}, hits: 1, status: 409},
		{name: "409 without a problem is final", method: "PUT", steps: []step{{status: 409, body: "conflict"}}, hits: 1, status: 409, wantBody: "conflict"},
		{name: "409 of another problem type is final", method: "PUT", steps: []step{{prob: problem.New(409, "version mismatch")}}, hits: 1, status: 409},
		{name: "POST with a generated key retried", method: "POST", steps: []step{s503, {cut: true}}, hits: 3, status: 200},
		{name: "PATCH with a generated key retried", method: "PATCH", steps: []step{s503}, hits: 2, status: 200},
		{name: "POST with the caller's key retried", method: "POST", key: "caller-key-0123456789", noKey: true, steps: []step{s503}, hits: 2, status: 200},
		{name: "POST without a key is not retried after 503", method: "POST", noKey: true, steps: []step{s503}, hits: 1, status: 503, wantBody: "busy"},
		{name: "POST without a key is not retried after a cut", method: "POST", noKey: true, steps: []step{{cut: true}}, hits: 1},
		{name: "unknown method is not retried", method: "PURGE", steps: []step{s503}, hits: 1, status: 503},
		{name: "attempts are bounded", method: "GET", steps: []step{s503, s503, s503, s503}, hits: 3, status: 503, wantBody: "busy"},
		{name: "attempts are bounded for errors", method: "GET", steps: []step{{cut: true}, {cut: true}, {cut: true}}, hits: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := newScriptServer(t, tt.steps...)
				c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
				ctx := context.Background()
				if tt.noKey {
					ctx = client.NewContext(ctx, client.RequestOptions{NoKey: true})
				}
				req, _ := http.NewRequestWithContext(ctx, tt.method, srv.URL, strings.NewReader("payload"))
				if tt.key != "" {
					req.Header.Set(client.HeaderKey, tt.key)
				}
				resp, err := c.Do(req)
				if hits := srv.requests(); len(hits) != tt.hits {
					t.Errorf("server saw %d requests, want %d", len(hits), tt.hits)
				}
				if tt.status == 0 {
					if err == nil {
						resp.Body.Close()
						t.Fatalf("got status %d, want an error", resp.StatusCode)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				if tt.wantBody != "" && tt.method != "HEAD" && string(body) != tt.wantBody {
					t.Fatalf("body %q, want %q", body, tt.wantBody)
				}
			})
		})
	}
}

// TestInFlightTypeIsIdempotencysErrInFlight checks that the URI the
// Transport matches is the one package idempotency answers with.
func TestInFlightTypeIsIdempotencysErrInFlight(t *testing.T) {
	if client.InFlightType != idempotency.ErrInFlight.URI {
		t.Fatalf("client.InFlightType = %q, idempotency.ErrInFlight.URI = %q", client.InFlightType, idempotency.ErrInFlight.URI)
	}
}

// TestKeySameOnEveryAttempt checks that one request carries one generated
// key, in the draft's quoted form with 128 random bits, on every attempt,
// and that two requests get different keys.
func TestKeySameOnEveryAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{status: 503}, step{cut: true}, step{status: 200}, step{status: 503})
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
		if _, _, err := do(t, c, "POST", srv.URL, "a"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := do(t, c, "POST", srv.URL, "b"); err != nil {
			t.Fatal(err)
		}
		hits := srv.requests()
		if len(hits) != 5 {
			t.Fatalf("%d requests, want 5", len(hits))
		}
		first := hits[0].key
		if len(first) != 1 {
			t.Fatalf("first attempt has keys %q, want one", first)
		}
		k := first[0]
		if len(k) != 28 || k[0] != '"' || k[27] != '"' || strings.Trim(k[1:27], "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("key %s is not a quoted 26-character base32 string", k)
		}
		for i, h := range hits[:3] {
			if len(h.key) != 1 || h.key[0] != k {
				t.Fatalf("attempt %d has key %q, want %s", i, h.key, k)
			}
		}
		if len(hits[3].key) != 1 || hits[3].key[0] == k || hits[4].key[0] != hits[3].key[0] {
			t.Fatalf("second request keys %q %q, want a new key on both attempts", hits[3].key, hits[4].key)
		}
	})
}

// TestCallerKeyKept checks that a caller's key is sent unchanged on every
// attempt and no second key is added.
func TestCallerKeyKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{status: 503})
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("x"))
		req.Header.Set(client.HeaderKey, "my-own-key-0123456789")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for i, h := range srv.requests() {
			if len(h.key) != 1 || h.key[0] != "my-own-key-0123456789" {
				t.Fatalf("attempt %d: key %q", i, h.key)
			}
		}
	})
}

// TestKeyMethodsConfigurable checks Options.KeyMethods: PUT gets a key,
// POST gets none and so is not retried.
func TestKeyMethodsConfigurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{status: 503}, step{status: 200}, step{status: 503})
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{KeyMethods: []string{"PUT"}}))}
		if _, _, err := do(t, c, "PUT", srv.URL, "x"); err != nil {
			t.Fatal(err)
		}
		resp, _, err := do(t, c, "POST", srv.URL, "y")
		if err != nil || resp.StatusCode != 503 {
			t.Fatalf("POST: %v %v, want a 503", resp, err)
		}
		hits := srv.requests()
		if len(hits) != 3 || len(hits[0].key) != 1 || hits[1].key[0] != hits[0].key[0] || len(hits[2].key) != 0 {
			t.Fatalf("requests %+v: want PUT twice with one key, POST once without", hits)
		}
	})
}

// TestNoKeyOptOut checks that RequestOptions.NoKey sends no key.
func TestNoKeyOptOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t)
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
		ctx := client.NewContext(context.Background(), client.RequestOptions{NoKey: true})
		if _, _, err := doCtx(t, ctx, c, "POST", srv.URL, "x"); err != nil {
			t.Fatal(err)
		}
		if h := srv.requests(); len(h[0].key) != 0 {
			t.Fatalf("key %q sent despite NoKey", h[0].key)
		}
		if o, ok := client.FromContext(ctx); !ok || !o.NoKey {
			t.Fatalf("FromContext = %+v, %v", o, ok)
		}
	})
}

// TestMaxAttemptsPerRequest checks that RequestOptions.MaxAttempts
// replaces Options.MaxAttempts.
func TestMaxAttemptsPerRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{status: 503}, step{status: 503}, step{status: 503})
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{MaxAttempts: 2}))}
		ctx := client.NewContext(context.Background(), client.RequestOptions{MaxAttempts: 4})
		resp, _, err := doCtx(t, ctx, c, "GET", srv.URL, "")
		if err != nil || resp.StatusCode != 200 || len(srv.requests()) != 4 {
			t.Fatalf("got %v, %v after %d requests; want 200 after 4", resp, err, len(srv.requests()))
		}
	})
}

// TestCallerRequestUntouched checks that RoundTrip modifies neither the
// request nor its header, even under a transport that (wrongly) adds to
// the header it is given.
func TestCallerRequestUntouched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{status: 503})
		inner := srv.transport()
		scribbler := rtFunc(func(r *http.Request) (*http.Response, error) {
			r.Header["X-Many"] = append(r.Header["X-Many"], "scribbled")
			return inner.RoundTrip(r)
		})
		tr := client.New(scribbler, quick(client.Options{}))
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("x"))
		req.Header["X-Many"] = make([]string, 1, 8) // spare capacity an append could write into
		before := *req
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get(client.HeaderKey) != "" || len(req.Header) != 1 || len(req.Header["X-Many"]) != 1 {
			t.Fatalf("caller's header changed: %v", req.Header)
		}
		if spare := req.Header["X-Many"][:2]; spare[1] != "" {
			t.Fatalf("the caller's header array was written to: %q", spare)
		}
		if req.Method != before.Method || req.URL != before.URL || req.Body != before.Body || req.Context() != before.Context() {
			t.Fatal("caller's request changed")
		}
		if resp.Request == req || resp.Request.Header.Get(client.HeaderKey) == "" {
			t.Fatal("resp.Request should be the last attempt, with its key")
		}
	})
}

// TestBodyReplayed checks that every attempt sends the whole body.
func TestBodyReplayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{status: 503}, step{cut: true})
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
		body := strings.Repeat("order-line;", 1000)
		if _, _, err := do(t, c, "POST", srv.URL, body); err != nil {
			t.Fatal(err)
		}
		hits := srv.requests()
		if len(hits) != 3 {
			t.Fatalf("%d requests, want 3", len(hits))
		}
		for i, h := range hits {
			if h.body != body {
				t.Fatalf("attempt %d sent %d bytes, want %d", i, len(h.body), len(body))
			}
		}
	})
}

// TestBodyNotReplayableSentOnce checks that a body without GetBody is
// sent once: a retryable answer is returned, a failure says why.
func TestBodyNotReplayableSentOnce(t *testing.T) {
	t.Run("response", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := newScriptServer(t, step{status: 503})
			c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
			req, _ := http.NewRequest("PUT", srv.URL, io.NopCloser(strings.NewReader("once")))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 503 || len(srv.requests()) != 1 {
				t.Fatalf("status %d after %d requests, want 503 after 1", resp.StatusCode, len(srv.requests()))
			}
		})
	})
	t.Run("error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := newScriptServer(t, step{cut: true})
			c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
			req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader("once")))
			_, err := c.Do(req)
			if !errors.Is(err, client.ErrBodyNotReplayable) {
				t.Fatalf("error %v, want one wrapping ErrBodyNotReplayable", err)
			}
			if !strings.Contains(err.Error(), "cannot be replayed") || len(srv.requests()) != 1 {
				t.Fatalf("error %q after %d requests", err, len(srv.requests()))
			}
		})
	})
}

// TestAttemptsExhaustedError checks the error after the last attempt
// failed without a response.
func TestAttemptsExhaustedError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{cut: true}, step{cut: true}, step{cut: true})
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
		_, _, err := do(t, c, "GET", srv.URL, "")
		if !errors.Is(err, client.ErrAttemptsExhausted) {
			t.Fatalf("error %v, want one wrapping ErrAttemptsExhausted", err)
		}
	})
}

// TestFailedAttemptsReuseTheConnection checks that the body of every
// retried response is drained and closed, so that all requests share one
// connection.
func TestFailedAttemptsReuseTheConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		big := strings.Repeat("x", 32<<10) // larger than any buffer that would hide an unread body
		var steps []step
		for range 10 {
			steps = append(steps, step{status: 503, body: big}, step{prob: idempotency.ErrInFlight.New("running")}, step{status: 200})
		}
		srv := newScriptServer(t, steps...)
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
		for range 10 {
			resp, _, err := do(t, c, "POST", srv.URL, "x")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%v %v", resp, err)
			}
		}
		if n := len(srv.requests()); n != 30 {
			t.Fatalf("%d requests, want 30", n)
		}
		if n := srv.newConns(); n != 1 {
			t.Fatalf("%d connections opened, want 1", n)
		}
	})
}

// TestFinalConflictBodyIntact checks that a 409 read to learn its problem
// type reaches the caller whole, small or larger than what is read.
func TestFinalConflictBodyIntact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, size := range []int{10, 16 << 10, 100 << 10} {
			detail := strings.Repeat("d", size)
			srv := newScriptServer(t, step{prob: idempotency.ErrNotReplayable.New(detail)})
			c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
			resp, body, err := do(t, c, "POST", srv.URL, "x")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 409 || !strings.Contains(body, detail) || !strings.HasSuffix(strings.TrimSpace(body), "}") {
				t.Fatalf("size %d: status %d, body of %d bytes", size, resp.StatusCode, len(body))
			}
		}
	})
}

// TestZeroTransportUsable checks that a zero Transport works with the
// defaults and http.DefaultTransport.
func TestZeroTransportUsable(t *testing.T) {
	srv := newLoopbackScriptServer(t, step{status: 503, header: map[string]string{"Retry-After": "0"}})
	c := &http.Client{Transport: &client.Transport{}}
	resp, _, err := do(t, c, "POST", srv.URL, "x")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if h := srv.requests(); len(h) != 2 || len(h[0].key) != 1 || h[1].key[0] != h[0].key[0] {
		t.Fatalf("requests %+v", h)
	}
}

// TestNewPanicsOnImpossibleOptions checks that New refuses options no
// correct program sets.
func TestNewPanicsOnImpossibleOptions(t *testing.T) {
	for name, o := range map[string]client.Options{
		"MaxAttempts": {MaxAttempts: -1},
		"BaseDelay":   {BaseDelay: -1},
		"MaxWait":     {MaxWait: -1},
		"Ratio":       {Budget: client.Budget{Ratio: nan()}},
		"Reserve":     {Budget: client.Budget{Reserve: -2}},
		"KeyMethods":  {KeyMethods: []string{""}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "client: Options.") {
					t.Fatalf("recovered %v, want a panic naming the option", r)
				}
			}()
			client.New(nil, o)
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// TestErrorCarriesProblem checks client.Error: nil below 400, else a
// *StatusError that matches the server's problem.Type with errors.Is.
func TestErrorCarriesProblem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t,
			step{prob: idempotency.ErrKeyReused.New("another request")},
			step{status: 502, body: "<html>bad gateway</html>"},
			step{status: 201, body: "created"},
		)
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{MaxAttempts: 1}))}

		resp, err := c.Post(srv.URL, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		err = client.Error(resp)
		if !errors.Is(err, idempotency.ErrKeyReused) || errors.Is(err, idempotency.ErrInFlight) {
			t.Fatalf("errors.Is(%v, ErrKeyReused) is false", err)
		}
		var se *client.StatusError
		if !errors.As(err, &se) || se.StatusCode != 422 || se.Problem.Detail != "another request" || se.Body != nil {
			t.Fatalf("StatusError %+v", se)
		}
		if p, ok := problem.From(err); !ok || p.Type != idempotency.ErrKeyReused.URI {
			t.Fatalf("problem.From = %v, %v", p, ok)
		}
		if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
			t.Fatal("Error left the body open")
		}

		resp, err = c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		err = client.Error(resp)
		if !errors.As(err, &se) || se.Problem != nil || string(se.Body) != "<html>bad gateway</html>" || se.Error() != "client: 502 Bad Gateway" {
			t.Fatalf("StatusError %+v (%v)", se, err)
		}

		resp, err = c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := client.Error(resp); err != nil {
			t.Fatalf("Error(201) = %v", err)
		}
		if b, _ := io.ReadAll(resp.Body); !bytes.Equal(b, []byte("created")) {
			t.Fatalf("Error consumed a successful body: %q", b)
		}
	})
}

// TestGetBodyFailureEndsRetries checks that a GetBody that fails ends the
// retries with an error that says why.
func TestGetBodyFailureEndsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{cut: true})
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
		req, _ := http.NewRequest("PUT", srv.URL, strings.NewReader("x"))
		broken := errors.New("body source gone")
		req.GetBody = func() (io.ReadCloser, error) { return nil, broken }
		_, err := c.Do(req)
		if !errors.Is(err, client.ErrBodyNotReplayable) || !errors.Is(err, broken) || len(srv.requests()) != 1 {
			t.Fatalf("error %v after %d requests", err, len(srv.requests()))
		}
	})
}

// TestRetriedResponseWithNilBody checks that a retried response whose
// inner RoundTripper left Body nil (which http.Client accepts as an empty
// body) is retried, not a panic.
func TestRetriedResponseWithNilBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		inner := rtFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			if calls == 1 {
				resp := response(r, 503, nil, "")
				resp.Body = nil
				return resp, nil
			}
			return response(r, 200, nil, "ok"), nil
		})
		c := &http.Client{Transport: client.New(inner, quick(client.Options{}))}
		resp, body, err := do(t, c, "GET", "http://api.test/", "")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || body != "ok" || calls != 2 {
			t.Fatalf("status %d, body %q after %d calls; want 200, \"ok\" after 2", resp.StatusCode, body, calls)
		}
	})
}

// TestEmptyMethodIsGET checks that a request with an empty Method, which
// net/http sends as a GET, is retried as a GET.
func TestEmptyMethodIsGET(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newScriptServer(t, step{status: 503})
		c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
		u, _ := url.Parse(srv.URL)
		resp, err := c.Do(&http.Request{URL: u, Header: http.Header{}}) // Method "": GET
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		hits := srv.requests()
		if len(hits) != 2 || resp.StatusCode != 200 {
			t.Fatalf("server saw %d requests, final status %d; want 2 and 200", len(hits), resp.StatusCode)
		}
		if hits[0].method != "GET" {
			t.Fatalf("sent as %q", hits[0].method)
		}
	})
}

// TestEmptyKeyHeaderSuppressesTheKey checks that a POST whose
// Idempotency-Key entry sends no key, because it is nil (net/http's way to
// suppress a header) or blank (which the idempotency middleware takes for
// no key), is sent once: it must not be retried as if keyed, and the
// caller asked for no key.
func TestEmptyKeyHeaderSuppressesTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals []string
	}{{"nil", nil}, {"empty", []string{""}}, {"blank", []string{"  "}}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := newScriptServer(t, step{status: 503})
				c := &http.Client{Transport: client.New(srv.transport(), quick(client.Options{}))}
				req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("order"))
				req.Header[client.HeaderKey] = tc.vals
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				hits := srv.requests()
				if len(hits) != 1 || resp.StatusCode != 503 {
					t.Fatalf("server saw %d requests, final status %d; want 1 and 503", len(hits), resp.StatusCode)
				}
				if k := strings.TrimSpace(strings.Join(hits[0].key, "")); k != "" {
					t.Fatalf("sent with key %q", hits[0].key)
				}
			})
		})
	}
}
