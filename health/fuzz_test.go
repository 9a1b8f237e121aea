package health

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParseQuery checks parseQuery against url.ParseQuery, whose decoding
// it mirrors without building a map.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "verbose", "verbose=", "verbose=0", "exclude=db", "exclude=db&exclude=cache&verbose",
		"exclude=a%2Fb", "exclude=%ZZ", "exclude=a+b", "exclude=a;b", "ex%63lude=x", "&&exclude=&",
		"verbose;x", "exclude=%22x%0A", "=x", "exclude==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		verbose, exclude := parseQuery(raw, nil)
		want, _ := url.ParseQuery(raw) // keeps the pairs it could decode
		_, wantVerbose := want["verbose"]
		if verbose != wantVerbose {
			t.Errorf("%q: verbose %v, url.ParseQuery says %v", raw, verbose, wantVerbose)
		}
		if !slices.Equal(exclude, want["exclude"]) {
			t.Errorf("%q: exclude %q, url.ParseQuery says %q", raw, exclude, want["exclude"])
		}
	})
}

// FuzzWantsText checks the Accept test against a plain lower-casing
// reference.
func FuzzWantsText(f *testing.F) {
	for _, s := range []string{"", "*/*", "text/plain", "TEXT/Plain;q=0.5", "text/plain, application/json", "application/health+json", "text/plai", "\xff"} {
		f.Add(s, "")
	}
	f.Add("text/plain", "application/JSON")
	f.Fuzz(func(t *testing.T, a, b string) {
		fields := []string{a, b}
		lower := strings.ToLower(a + "\n" + b)
		want := strings.Contains(lower, "text/plain") && !strings.Contains(lower, "json")
		if strings.ToLower(a) != strings.Map(asciiLower, a) || strings.ToLower(b) != strings.Map(asciiLower, b) {
			return // non-ASCII case folding is outside what an Accept field holds
		}
		if got := wantsText(fields); got != want {
			t.Errorf("%q: %v, want %v", fields, got, want)
		}
	})
}

func asciiLower(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
