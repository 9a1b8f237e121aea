package authn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/internal/clocktest"
)

// jwksServer serves body() as the JWK set; a nil body is a 500.
func jwksServer(t *testing.T, body func() []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := body()
		if b == nil {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// jwksOf returns the public JWK set of keys.
func jwksOf(t testing.TB, keys ...Key) []byte {
	t.Helper()
	h, err := NewJWKSHandler(keys...)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	return rec.Body.Bytes()
}

func publicKeys() (ed, es, rs Key) {
	k := testKeys()
	return Key{ID: "ed", Algorithm: "EdDSA", Key: k.ed.Public()},
		Key{ID: "es", Algorithm: "ES256", Key: &k.ec.PublicKey},
		Key{ID: "rs", Algorithm: "RS256", Key: &k.rsa.PublicKey}
}

func jwksVerifier(t testing.TB, j *JWKS) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience},
		Algorithms: []string{"EdDSA", "ES256", "RS256", "PS256"}, JWKS: j, Now: clocktest.New().Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJWKSFetchesOnFirstUseAndCaches(t *testing.T) {
	ed, es, rs := publicKeys()
	var fetches atomic.Int64
	srv := jwksServer(t, func() []byte { fetches.Add(1); return jwksOf(t, ed, es, rs) })
	j, err := NewJWKS(srv.URL, JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fetches.Load() != 0 {
		t.Fatal("NewJWKS fetched")
	}
	v := jwksVerifier(t, j)
	for range 3 {
		for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
			if _, err := v.Verify(context.Background(), sign(t, alg, nil, goodClaims())); err != nil {
				t.Fatalf("%s: %v", alg, err)
			}
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 9 verifications, want 1", n)
	}
}

func TestJWKSKeyRotation(t *testing.T) {
	ed, es, _ := publicKeys()
	var current atomic.Pointer[[]byte]
	set := func(keys ...Key) { b := jwksOf(t, keys...); current.Store(&b) }
	set(ed)
	srv := jwksServer(t, func() []byte { return *current.Load() })
	j, _ := NewJWKS(srv.URL, JWKSOptions{MinRefreshInterval: time.Nanosecond})
	v := jwksVerifier(t, j)
	if _, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, goodClaims())); err != nil {
		t.Fatal(err)
	}
	set(es) // the issuer rotates: ed is gone, es is new
	if _, err := v.Verify(context.Background(), sign(t, "ES256", nil, goodClaims())); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, goodClaims())); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token of the retired key: %v, want ErrUnknownKey", err)
	}
}

func TestJWKSServerDown(t *testing.T) {
	ed, _, _ := publicKeys()
	var up atomic.Bool
	srv := jwksServer(t, func() []byte {
		if !up.Load() {
			return nil
		}
		return jwksOf(t, ed)
	})
	j, _ := NewJWKS(srv.URL, JWKSOptions{MinRefreshInterval: time.Nanosecond})
	v := jwksVerifier(t, j)
	tok := sign(t, "EdDSA", nil, goodClaims())
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("issuer down, nothing cached: %v, want ErrKeysUnavailable", err)
	}
	if err := j.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh with the issuer down returned nil")
	}
	up.Store(true)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("issuer back: %v", err)
	}
	up.Store(false)
	if err := j.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh with the issuer down returned nil")
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("a failed refresh dropped the cached keys: %v", err)
	}
	srv.Close() // connection refused
	if err := j.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh with the issuer gone returned nil")
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("issuer gone: cached keys no longer verify: %v", err)
	}
}

// fakeIssuer is an http.RoundTripper serving a JWK set from memory, for
// tests inside a synctest bubble (no real network there).
type fakeIssuer struct {
	body    atomic.Pointer[[]byte]
	fetches atomic.Int64
	hang    atomic.Bool // block until the request's context ends
}

func (f *fakeIssuer) RoundTrip(r *http.Request) (*http.Response, error) {
	f.fetches.Add(1)
	if f.hang.Load() {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Request: r,
		Body: io.NopCloser(strings.NewReader(string(*f.body.Load())))}, nil
}

func newFake(t testing.TB, keys ...Key) (*fakeIssuer, *http.Client) {
	f := &fakeIssuer{}
	b := jwksOf(t, keys...)
	f.body.Store(&b)
	return f, &http.Client{Transport: f}
}

func TestJWKSUnknownKidRefreshIsRateLimitedAndShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ed, es, _ := publicKeys()
		f, client := newFake(t, ed)
		j, _ := NewJWKS("https://id.example.test/jwks", JWKSOptions{Client: client})
		v := jwksVerifier(t, j)
		if _, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, goodClaims())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute) // past MinRefreshInterval
		// 50 forged kids at once: one fetch, shared.
		done := make(chan error, 50)
		for i := range 50 {
			go func() {
				_, err := v.Verify(context.Background(), sign(t, "EdDSA", map[string]any{"kid": "forged" + string(rune('a'+i))}, goodClaims()))
				done <- err
			}()
		}
		for range 50 {
			if err := <-done; !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("forged kid: %v, want ErrUnknownKey", err)
			}
		}
		if n := f.fetches.Load(); n != 2 {
			t.Fatalf("%d fetches after 50 forged kids, want 2 (first use + one refresh)", n)
		}
		// Within MinRefreshInterval, a new legitimate kid gets no fetch...
		b := jwksOf(t, ed, es)
		f.body.Store(&b)
		if _, err := v.Verify(context.Background(), sign(t, "ES256", nil, goodClaims())); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("within MinRefreshInterval: %v, want ErrUnknownKey", err)
		}
		// ...and once it has passed, the next one fetches.
		time.Sleep(time.Minute)
		if _, err := v.Verify(context.Background(), sign(t, "ES256", nil, goodClaims())); err != nil {
			t.Fatalf("after MinRefreshInterval: %v", err)
		}
		if n := f.fetches.Load(); n != 3 {
			t.Fatalf("%d fetches, want 3", n)
		}
	})
}

func TestJWKSSlowServerWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ed, _, _ := publicKeys()
		f, client := newFake(t, ed)
		f.hang.Store(true)
		j, _ := NewJWKS("https://id.example.test/jwks", JWKSOptions{Client: client, Timeout: 5 * time.Second})
		v := jwksVerifier(t, j)
		start := time.Now()
		_, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, goodClaims()))
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("slow issuer: %v, want ErrKeysUnavailable", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("request waited %v, want UnknownKeyWait (1s)", waited)
		}
		// A request with a shorter deadline waits less.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err = v.Verify(ctx, sign(t, "EdDSA", nil, goodClaims()))
		if !errors.Is(err, ErrKeysUnavailable) || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("with a 100ms deadline: %v after %v", err, time.Since(start))
		}
		// The fetch itself is cut at Timeout; then a retry waits 5s.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := f.fetches.Load(); n != 1 {
			t.Fatalf("%d fetches, want 1 (one in flight, shared)", n)
		}
		f.hang.Store(false)
		if _, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, goodClaims())); err != nil {
			t.Fatalf("issuer answers again: %v", err)
		}
	})
}

func TestJWKSRefreshesInBackgroundAfterInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ed, _, _ := publicKeys()
		f, client := newFake(t, ed)
		j, _ := NewJWKS("https://id.example.test/jwks", JWKSOptions{Client: client, RefreshInterval: 10 * time.Minute})
		v := jwksVerifier(t, j)
		tok := sign(t, "EdDSA", nil, goodClaims())
		v.Verify(context.Background(), tok)
		time.Sleep(9 * time.Minute)
		v.Verify(context.Background(), tok)
		synctest.Wait()
		if n := f.fetches.Load(); n != 1 {
			t.Fatalf("%d fetches before RefreshInterval, want 1", n)
		}
		time.Sleep(time.Minute)
		f.hang.Store(true) // the refresh hangs: the request must not wait for it
		start := time.Now()
		if _, err := v.Verify(context.Background(), tok); err != nil || time.Since(start) != 0 {
			t.Fatalf("after RefreshInterval: %v after %v; want the cached key at once", err, time.Since(start))
		}
		synctest.Wait()
		if n := f.fetches.Load(); n != 2 {
			t.Fatalf("%d fetches after RefreshInterval, want 2", n)
		}
		time.Sleep(10 * time.Second) // the hung refresh times out; the keys stay
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	})
}

func TestJWKSRejectsBadResponses(t *testing.T) {
	ed, _, _ := publicKeys()
	good := string(jwksOf(t, ed))
	for name, body := range map[string]string{
		"too large":    `{"keys":[],"pad":"` + strings.Repeat("x", 2000) + `"}`,
		"not JSON":     "<html>",
		"no keys":      `{"keys":[]}`,
		"only HMAC":    `{"keys":[{"kty":"oct","kid":"ed","alg":"HS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]}`,
		"enc key only": strings.Replace(good, `"use":"sig"`, `"use":"enc"`, 1),
		"alg mismatch": strings.Replace(good, `"alg":"EdDSA"`, `"alg":"RS256"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			srv := jwksServer(t, func() []byte { return []byte(body) })
			j, _ := NewJWKS(srv.URL, JWKSOptions{MaxBytes: 1000})
			if err := j.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh accepted the response")
			}
		})
	}
	t.Run("redirect", func(t *testing.T) {
		target := jwksServer(t, func() []byte { return []byte(good) })
		srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
		defer srv.Close()
		j, _ := NewJWKS(srv.URL, JWKSOptions{})
		if err := j.Refresh(context.Background()); err == nil {
			t.Fatal("Refresh followed a redirect")
		}
	})
}

func TestJWKSKeyAlgIsPinned(t *testing.T) {
	_, _, rs := publicKeys()
	srv := jwksServer(t, func() []byte { return jwksOf(t, rs) }) // alg RS256
	j, _ := NewJWKS(srv.URL, JWKSOptions{})
	v := jwksVerifier(t, j)
	if _, err := v.Verify(context.Background(), sign(t, "RS256", nil, goodClaims())); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), sign(t, "PS256", map[string]any{"kid": "rs"}, goodClaims())); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("PS256 token for an RS256 JWK: %v, want ErrAlgorithm", err)
	}
	// Without alg in the JWK, the RSA key verifies both RSA families the
	// Verifier allows.
	body := strings.Replace(string(jwksOf(t, rs)), `"alg":"RS256",`, "", 1)
	srv2 := jwksServer(t, func() []byte { return []byte(body) })
	j2, _ := NewJWKS(srv2.URL, JWKSOptions{})
	v2 := jwksVerifier(t, j2)
	if _, err := v2.Verify(context.Background(), sign(t, "PS256", map[string]any{"kid": "rs"}, goodClaims())); err != nil {
		t.Fatalf("PS256 token for an RSA JWK without alg: %v", err)
	}
	if _, err := v2.Verify(context.Background(), sign(t, "HS256", map[string]any{"kid": "rs"}, goodClaims())); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("HS256 token for an RSA JWK: %v, want ErrAlgorithm", err)
	}
}

func TestNewJWKSRequiresHTTPS(t *testing.T) {
	for _, u := range []string{"http://id.example.test/jwks", "ftp://x/", "://", "https://"} {
		if _, err := NewJWKS(u, JWKSOptions{}); err == nil {
			t.Errorf("NewJWKS(%q) succeeded", u)
		}
	}
	for _, u := range []string{"https://id.example.test/jwks", "http://127.0.0.1:8080/jwks", "http://[::1]/jwks", "http://localhost/jwks"} {
		if _, err := NewJWKS(u, JWKSOptions{}); err != nil {
			t.Errorf("NewJWKS(%q): %v", u, err)
		}
	}
}

func FuzzParseJWKSet(f *testing.F) {
	ed, es, rs := publicKeys()
	f.Add(jwksOf(f, ed, es, rs))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := parseJWKSet(body)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
		for _, k := range keys {
			if k.algs == 0 || k.algs&hmacAlgs != 0 {
				t.Fatalf("key with algorithms %b", k.algs)
			}
		}
	})
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("issuer unreachable")
}

// A JWKS without a Logger logs to the slog default of the moment, not of
// NewJWKS, with the record's level and attributes. (Not parallel: it sets
// the process's default logger.)
func TestJWKSNilLoggerIsTheDefaultAtLogTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j, err := NewJWKS("https://id.example.test/jwks", JWKSOptions{Client: &http.Client{Transport: failingTransport{}}})
		if err != nil {
			t.Fatal(err)
		}
		var logs strings.Builder
		old := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
		defer slog.SetDefault(old)
		if err := j.Refresh(context.Background()); err == nil {
			t.Fatal("Refresh through a failing transport succeeded")
		}
		synctest.Wait() // the fetch logs after it wakes its waiters
		if !strings.Contains(logs.String(), `level=WARN msg="authn: JWKS fetch failed`) {
			t.Fatalf("the default set after NewJWKS got %q, want the record itself", logs.String())
		}
	})
}
