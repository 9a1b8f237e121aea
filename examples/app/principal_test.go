package app

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"

	"github.com/backstop-go/backstop/authn"
)

// The key of a principal names its rate-limit counters and scopes its
// idempotency records in Redis and PostgreSQL: it must not change from one
// release to the next, and it is computed on every request.
func TestPrincipalKeyIsStableAndAllocatesOnlyItsString(t *testing.T) {
	for _, p := range []*authn.Principal{
		{Issuer: "backstop-example", Subject: "42"},
		{Issuer: "https://idp.example.com/", Subject: ""},
		{Issuer: string(make([]byte, 300)), Subject: "long issuer"},
	} {
		sum := sha256.Sum256([]byte(p.Issuer + "\x00" + p.Subject))
		want := base64.RawURLEncoding.EncodeToString(sum[:18])
		if got := principalKey("", p); got != want {
			t.Errorf("principalKey(%q, %q) = %q, want %q", p.Issuer, p.Subject, got, want)
		}
		if got := principalKey("principal:", p); got != "principal:"+want {
			t.Errorf("with a prefix: %q, want %q", got, "principal:"+want)
		}
	}
	p := &authn.Principal{Issuer: "backstop-example", Subject: "42"}
	if n := testing.AllocsPerRun(100, func() { _ = principalKey("principal:", p) }); n != 1 {
		t.Errorf("principalKey allocates %v times, want 1", n)
	}
}
