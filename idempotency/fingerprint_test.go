package idempotency_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
)

func TestFingerprint(t *testing.T) {
	fp := func(method, target, body string) string {
		r := httptest.NewRequest(method, target, nil)
		s, err := idempotency.Fingerprint(r, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
			t.Fatalf("fingerprint %q is not hex SHA-256", s)
		}
		return s
	}
	base := fp("POST", "/a?x=1&y=2", "body")
	tests := []struct {
		name         string
		method, path string
		body         string
		same         bool
	}{
		{"identical", "POST", "/a?x=1&y=2", "body", true},
		{"parameter order", "POST", "/a?y=2&x=1", "body", true},
		{"empty parameters", "POST", "/a?x=1&&y=2&", "body", true},
		{"method", "PATCH", "/a?x=1&y=2", "body", false},
		{"path", "POST", "/b?x=1&y=2", "body", false},
		{"value", "POST", "/a?x=1&y=3", "body", false},
		{"extra parameter", "POST", "/a?x=1&y=2&z", "body", false},
		{"body", "POST", "/a?x=1&y=2", "bodY", false},
		{"no body", "POST", "/a?x=1&y=2", "", false},
		// Length prefixes keep field boundaries: moving bytes between
		// fields changes the fingerprint.
		{"boundary", "POST", "/a?x=1&y=2b", "ody", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fp(tc.method, tc.path, tc.body) == base; got != tc.same {
				t.Fatalf("same fingerprint = %v, want %v", got, tc.same)
			}
		})
	}
	// Repeated values keep their order.
	if fp("POST", "/a?x=1&x=2", "") == fp("POST", "/a?x=2&x=1", "") {
		t.Fatal("reordered repeated values gave the same fingerprint")
	}
	if fp("POST", "/a?b=1&a=2&a=1", "") != fp("POST", "/a?a=2&a=1&b=1", "") {
		t.Fatal("sorting by name moved repeated values")
	}
}
