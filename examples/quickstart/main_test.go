package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/ratelimit"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := newHandler(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, header map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func wantProblem(t *testing.T, resp *http.Response, status int, typ string) *problem.Problem {
	t.Helper()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	p, err := problem.Parse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != status || (typ != "" && p.Type != typ) {
		t.Fatalf("problem %+v, want status %d type %q", p, status, typ)
	}
	return p
}

func TestGet(t *testing.T) {
	srv := newTestServer(t)
	if resp := do(t, "GET", srv.URL+"/orders/1", nil, ""); resp.StatusCode != 200 {
		t.Errorf("GET /orders/1: %d", resp.StatusCode)
	}
	wantProblem(t, do(t, "GET", srv.URL+"/orders/404", nil, ""), 404, ErrOrderNotFound.URI)
	wantProblem(t, do(t, "GET", srv.URL+"/orders/abc", nil, ""), 400, "about:blank")
	wantProblem(t, do(t, "GET", srv.URL+"/panic", nil, ""), 500, "about:blank")
	resp := do(t, "GET", srv.URL+"/orders/404", map[string]string{"Accept": "application/problem+xml"}, "")
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentTypeXML {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("RateLimit") == "" || resp.Header.Get("RateLimit-Policy") == "" {
		t.Errorf("no RateLimit headers: %v", resp.Header)
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	srv := newTestServer(t)
	hdr := map[string]string{
		"Authorization":   "Bearer alice",
		"Idempotency-Key": "order-key-0123456789",
		"Content-Type":    "application/json",
	}
	first := do(t, "POST", srv.URL+"/orders", hdr, `{"item":"tea","count":3}`)
	if first.StatusCode != 201 {
		t.Fatalf("first POST: %d", first.StatusCode)
	}
	firstBody, _ := io.ReadAll(first.Body)

	retry := do(t, "POST", srv.URL+"/orders", hdr, `{"item":"tea","count":3}`)
	retryBody, _ := io.ReadAll(retry.Body)
	if retry.StatusCode != 201 || !bytes.Equal(firstBody, retryBody) || retry.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s (replayed %q), want the first response %s", retry.StatusCode, retryBody, retry.Header.Get("Idempotent-Replayed"), firstBody)
	}
	if retry.Header.Get("Location") != first.Header.Get("Location") {
		t.Errorf("Location %q, want %q", retry.Header.Get("Location"), first.Header.Get("Location"))
	}

	// Only one order was created: ids 1 (seeded) and 2.
	if resp := do(t, "GET", srv.URL+"/orders/3", nil, ""); resp.StatusCode != 404 {
		t.Errorf("a second order was created")
	}
	wantProblem(t, do(t, "POST", srv.URL+"/orders", hdr, `{"item":"tea","count":4}`), 422, "")

	delete(hdr, "Idempotency-Key")
	wantProblem(t, do(t, "POST", srv.URL+"/orders", hdr, `{"item":"tea","count":3}`), 400, "")

	hdr["Idempotency-Key"] = "another-key-0123456789"
	p := wantProblem(t, do(t, "POST", srv.URL+"/orders", hdr, `{"item":"","count":0}`), 422,
		"https://pkg.go.dev/github.com/backstop-go/backstop/problem/validation#ErrInvalid")
	errs, _ := json.Marshal(p.Extensions["errors"])
	if !strings.Contains(string(errs), `"#/count"`) || !strings.Contains(string(errs), `"#/item"`) {
		t.Errorf("errors %s", errs)
	}
}

func TestRateLimited(t *testing.T) {
	srv := newTestServer(t)
	for i := range 100 {
		resp := do(t, "GET", srv.URL+"/orders/1", nil, "")
		if resp.StatusCode == http.StatusTooManyRequests {
			p := wantProblem(t, resp, 429, ratelimit.ErrQuotaExceeded.URI)
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			if got, _ := json.Marshal(p.Extensions["violated-policies"]); string(got) != `["burst"]` {
				t.Errorf("violated-policies %s", got)
			}
			if i < 20 {
				t.Errorf("limited after %d requests, the burst policy allows 20", i)
			}
			return
		}
	}
	t.Fatal("100 requests in a row were never limited")
}

func TestListPages(t *testing.T) {
	srv := newTestServer(t)
	hdr := map[string]string{"Authorization": "Bearer bob", "Content-Type": "application/json"}
	for i := range 6 {
		hdr["Idempotency-Key"] = "create-order-key-" + string(rune('a'+i)) + "-0123456789"
		if resp := do(t, "POST", srv.URL+"/orders", hdr, `{"item":"x","count":1}`); resp.StatusCode != 201 {
			t.Fatalf("create: %d", resp.StatusCode)
		}
	}
	type pageBody struct {
		Data    []order `json:"data"`
		Next    *string `json:"next_cursor"`
		Prev    *string `json:"prev_cursor"`
		HasMore bool    `json:"has_more"`
	}
	get := func(query string) pageBody {
		t.Helper()
		resp := do(t, "GET", srv.URL+"/orders?"+query, nil, "")
		if resp.StatusCode != 200 {
			t.Fatalf("list %s: %d", query, resp.StatusCode)
		}
		var pb pageBody
		if err := json.NewDecoder(resp.Body).Decode(&pb); err != nil {
			t.Fatal(err)
		}
		return pb
	}
	var ids []int64
	var last pageBody
	for pb, n := get("limit=3"), 0; ; n++ {
		for _, o := range pb.Data {
			ids = append(ids, o.ID)
		}
		last = pb
		if pb.Next == nil || n > 10 {
			break
		}
		pb = get("limit=3&cursor=" + *pb.Next)
	}
	if got := ids; len(got) != 7 || got[0] != 7 || got[6] != 1 {
		t.Fatalf("forward walk ids %v, want 7..1", got)
	}
	back := get("limit=3&cursor=" + *last.Prev)
	if len(back.Data) != 3 || back.Data[0].ID != 4 || back.Data[2].ID != 2 {
		t.Errorf("backward page %+v, want ids 4, 3, 2", back.Data)
	}
	wantProblem(t, do(t, "GET", srv.URL+"/orders?cursor=forged", nil, ""), 400, "")
	wantProblem(t, do(t, "GET", srv.URL+"/orders?limit=0", nil, ""), 400, "")
}
