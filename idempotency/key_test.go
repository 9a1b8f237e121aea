package idempotency_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
		err    error // a problem.Type, or nil
	}{
		{"bare", []string{"KG5LxwFBepaKHyUD"}, "KG5LxwFBepaKHyUD", nil},
		{"uuid quoted", []string{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`}, "8e03978e-40d5-43e8-bc93-6894a57f9324", nil},
		{"surrounding space", []string{"  abc \t"}, "abc", nil},
		{"quoted with space inside", []string{`"a b"`}, "a b", nil},
		{"quoted escapes", []string{`"a\"b\\c"`}, `a"b\c`, nil},
		{"quoted comma", []string{`"a,b"`}, "a,b", nil},
		{"parameters ignored", []string{`"abc";a=1;b;c=?0;d="x;y";e=tok/en;f=:aGk=:;g=-1.5`}, "abc", nil},
		{"parameter with space", []string{`"abc"; a=1`}, "abc", nil},
		{"missing", nil, "", idempotency.ErrKeyMissing},
		{"empty", []string{""}, "", idempotency.ErrKeyMissing},
		{"blank", []string{"   "}, "", idempotency.ErrKeyMissing},
		{"two lines", []string{"abc", "abc"}, "", idempotency.ErrKeyInvalid},
		{"bare list", []string{"abc,def"}, "", idempotency.ErrKeyInvalid},
		{"quoted list", []string{`"abc", "def"`}, "", idempotency.ErrKeyInvalid},
		{"unterminated", []string{`"abc`}, "", idempotency.ErrKeyInvalid},
		{"bad escape", []string{`"a\nb"`}, "", idempotency.ErrKeyInvalid},
		{"trailing backslash", []string{`"ab\`}, "", idempotency.ErrKeyInvalid},
		{"control in quotes", []string{"\"a\x01b\""}, "", idempotency.ErrKeyInvalid},
		{"non-ascii bare", []string{"abcé"}, "", idempotency.ErrKeyInvalid},
		{"non-ascii quoted", []string{"\"abcé\""}, "", idempotency.ErrKeyInvalid},
		{"space in bare", []string{"a b"}, "", idempotency.ErrKeyInvalid},
		{"quote in bare", []string{`ab"c`}, "", idempotency.ErrKeyInvalid},
		{"backslash in bare", []string{`ab\c`}, "", idempotency.ErrKeyInvalid},
		{"junk after string", []string{`"abc"x`}, "", idempotency.ErrKeyInvalid},
		{"bad parameter key", []string{`"abc";A=1`}, "", idempotency.ErrKeyInvalid},
		{"bad parameter value", []string{`"abc";a=`}, "", idempotency.ErrKeyInvalid},
		{"bad boolean", []string{`"abc";a=?2`}, "", idempotency.ErrKeyInvalid},
		{"unterminated bytes", []string{`"abc";a=:aGk`}, "", idempotency.ErrKeyInvalid},
		{"empty quoted", []string{`""`}, "", idempotency.ErrKeyInvalid},
		{"too long", []string{strings.Repeat("a", 11)}, "", idempotency.ErrKeyInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := idempotency.ParseKey(tc.values, 1, 10+len(tc.want))
			if tc.name == "too long" {
				got, err = idempotency.ParseKey(tc.values, 1, 10)
			}
			if tc.err == nil {
				if err != nil || got != tc.want {
					t.Fatalf("ParseKey(%q) = %q, %v; want %q", tc.values, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("ParseKey(%q) = %q, %v; want %v", tc.values, got, err, tc.err)
			}
		})
	}
}

// sfString serialises s as an RFC 9651 sf-string.
func sfString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func FuzzParseKey(f *testing.F) {
	for _, seed := range []string{
		"KG5LxwFBepaKHyUD", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, `"a\"b\\c"`,
		`"abc";a=1;b;c=?0;d="x;y"`, `"abc", "def"`, "abc,def", `"a\nb"`, "abcé", "", `"`,
		`"abc";a=:aGk=:`, `"abc";a=-1.5`, " \t", `"x";*=tok`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, err := idempotency.ParseKey([]string{v}, 1, 255)
		if err != nil {
			if !errors.Is(err, idempotency.ErrKeyMissing) && !errors.Is(err, idempotency.ErrKeyInvalid) {
				t.Fatalf("ParseKey(%q) error %v is not a key problem", v, err)
			}
			return
		}
		if len(key) < 1 || len(key) > 255 {
			t.Fatalf("ParseKey(%q) = %q: length out of bounds", v, key)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("ParseKey(%q) = %q: byte %#x is not printable ASCII", v, key, key[i])
			}
		}
		// The quoted form of any accepted key names the same key.
		again, err := idempotency.ParseKey([]string{sfString(key)}, 1, 255)
		if err != nil || again != key {
			t.Fatalf("quoted form of %q parses as %q, %v", key, again, err)
		}
	})
}
