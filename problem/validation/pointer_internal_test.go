package validation

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
)

func TestPointer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tokens []string
		want   string
	}{
		{nil, "#"},
		{[]string{""}, "#/"},
		{[]string{"items", "0", "quantity"}, "#/items/0/quantity"},
		// RFC 6901 §6 examples.
		{[]string{"foo"}, "#/foo"},
		{[]string{"a/b"}, "#/a~1b"},
		{[]string{"c%d"}, "#/c%25d"},
		{[]string{"e^f"}, "#/e%5Ef"},
		{[]string{"g|h"}, "#/g%7Ch"},
		{[]string{"i\\j"}, "#/i%5Cj"},
		{[]string{"k\"l"}, "#/k%22l"},
		{[]string{" "}, "#/%20"},
		{[]string{"m~n"}, "#/m~0n"},
		// "~1" must become "~01", not "~1": escape '~' before '/'.
		{[]string{"~1"}, "#/~01"},
		{[]string{"/~"}, "#/~1~0"},
		{[]string{"größe"}, "#/gr%C3%B6%C3%9Fe"},
		{[]string{"a#b?c[d]"}, "#/a%23b?c%5Bd%5D"},
		{[]string{"!$&'()*+,;=:@-._"}, "#/!$&'()*+,;=:@-._"},
		{[]string{"\x00\n\x7f\xff"}, "#/%00%0A%7F%FF"},
	}
	for _, tt := range tests {
		if got := Pointer(tt.tokens...); got != tt.want {
			t.Errorf("Pointer(%q) = %q, want %q", tt.tokens, got, tt.want)
		}
		if got := parsePointer(t, tt.want); !slices.Equal(got, tt.tokens) && !(len(got) == 0 && len(tt.tokens) == 0) {
			t.Errorf("round trip of %q gave %q", tt.want, got)
		}
	}
}

// parsePointer decodes a fragment pointer back into tokens, as a client
// would (RFC 6901 §6 then §4).
func parsePointer(t testing.TB, p string) []string {
	t.Helper()
	rest, ok := strings.CutPrefix(p, "#")
	if !ok {
		t.Fatalf("pointer %q lacks '#'", p)
	}
	var raw []byte
	for i := 0; i < len(rest); i++ {
		if rest[i] == '%' {
			if i+2 >= len(rest) {
				t.Fatalf("pointer %q: bad percent-encoding", p)
			}
			var c byte
			for _, h := range []byte(rest[i+1 : i+3]) {
				c <<= 4
				switch {
				case '0' <= h && h <= '9':
					c |= h - '0'
				case 'A' <= h && h <= 'F':
					c |= h - 'A' + 10
				default:
					t.Fatalf("pointer %q: bad hex digit", p)
				}
			}
			raw = append(raw, c)
			i += 2
			continue
		}
		if !fragmentSafe(rest[i]) && rest[i] != '/' && rest[i] != '~' {
			t.Fatalf("pointer %q: %q is not allowed in a fragment", p, rest[i])
		}
		raw = append(raw, rest[i])
	}
	if len(raw) == 0 {
		return nil
	}
	if raw[0] != '/' {
		t.Fatalf("pointer %q does not start with /", p)
	}
	var tokens []string
	for _, tok := range strings.Split(string(raw[1:]), "/") {
		tok = strings.ReplaceAll(tok, "~1", "/")
		tokens = append(tokens, strings.ReplaceAll(tok, "~0", "~"))
	}
	return tokens
}

func TestComparePointers(t *testing.T) {
	t.Parallel()
	sorted := []string{"#", "#/a", "#/a/2", "#/a/10", "#/a/10/x", "#/a/b", "#/b", "#/items/9", "#/items/10"}
	shuffled := slices.Clone(sorted)
	slices.Reverse(shuffled)
	slices.SortFunc(shuffled, comparePointers)
	if !slices.Equal(shuffled, sorted) {
		t.Errorf("sorted to %q, want %q", shuffled, sorted)
	}
}

func TestNamespacePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ns, structNs string
		want         []string
	}{
		{"Order.items[0].quantity", "Order.Items[0].Qty", []string{"items", "0", "quantity"}},
		{"Order.email", "Order.Email", []string{"email"}},
		{"Order", "Order.Skipped", nil},              // a field with a blank JSON name
		{"X", "X", []string{"X"}},                    // anonymous root, untagged field
		{"email", "Email", []string{"email"}},        // anonymous root
		{"[3].sku", "[3].SKU", []string{"3", "sku"}}, // Var on a slice
		{"m[a.b].x", "M[a.b].X", []string{"m", "a.b", "x"}},
		{"m[a]b].x", "M[a]b].X", []string{"m", "a]b", "x"}},
		{"g[1][2]", "G[1][2]", []string{"g", "1", "2"}},
		{"Page[example.com/x.Item].items[0]", "Page[example.com/x.Item].Items[0]", []string{"items", "0"}},
		{"", "", nil},
	}
	for _, tt := range tests {
		if got := namespacePath(tt.ns, tt.structNs); !slices.Equal(got, tt.want) {
			t.Errorf("namespacePath(%q, %q) = %q, want %q", tt.ns, tt.structNs, got, tt.want)
		}
	}
}

func TestTypedPathMismatch(t *testing.T) {
	t.Parallel()
	type item struct{ Qty int }
	type order struct {
		Items []item
		M     map[string]item
	}
	root := reflect.TypeFor[order]()
	for _, ns := range []string{
		"Other.Items[0].Qty",  // another root
		"order.Nope",          // no such field
		"order.Items[x].Qty",  // not an index
		"order.Items[0]Qty",   // junk after a bracket
		"order.Items.Qty",     // a slice has no fields
		"order.M[k].Qty.Deep", // an int has no fields
		"order.Items[0].",     // trailing dot
	} {
		if tokens, _, ok := typedPath(root, ns); ok {
			t.Errorf("typedPath(%q) = %q, want no match", ns, tokens)
		}
	}
	tokens, _, ok := typedPath(root, "order.M[a]b].Qty")
	if want := []string{"M", "a]b", "Qty"}; !ok || !slices.Equal(tokens, want) {
		t.Errorf("typedPath with ']' in a key = %q, %v; want %q", tokens, ok, want)
	}
}

// fieldsOf must agree with the decoder about which members a struct knows,
// embedded structs and name conflicts included, whether names match
// exactly or in any case.
func TestFieldsOfAgreesWithDecoder(t *testing.T) {
	t.Parallel()
	type A struct {
		Y    int `json:"X"` // tagged: wins over B.X at the same depth
		Both int
		Deep int
	}
	type B struct {
		X    int
		Both int // conflicts with A.Both, but Top is shallower
		Same int
	}
	type C struct {
		Deep int
		Same int // conflicts with B.Same? No: deeper, B.Same wins
	}
	type D struct{ C }
	type E struct{ Dup int }
	type F struct{ Dup int } // same depth as E.Dup, neither tagged: dropped
	type tricky struct {
		A
		B
		D
		E
		F
		Top      int `json:"both"` // shallower than A.Both and B.Both
		Ignored  int `json:"-"`
		private  int
		Renamed  int `json:"new_name,omitempty"`
		Embedded struct {
			In int `json:"in"`
		} `json:"embedded"`
	}
	_ = tricky{}.private
	for _, fold := range []bool{false, true} {
		for _, key := range []string{"X", "x", "Y", "Both", "both", "BOTH", "Deep", "deep", "Same", "Dup", "Ignored", "-",
			"private", "new_name", "NEW_NAME", "New_Name", "Renamed", "embedded", "in", "A", "C", "Top"} {
			body := []byte(`{` + strconvQuote(key) + `:null}`)
			var dst tricky
			err := jsonv2.Unmarshal(body, &dst, decodeOptionSets[0][b2i(fold)])
			decoderKnows := err == nil
			_, weKnow := fieldsOf(reflect.TypeFor[tricky]()).lookup(key, fold)
			if decoderKnows != weKnow {
				t.Errorf("member %q, fold %v: the decoder knows it: %v (%v); fieldsOf: %v", key, fold, decoderKnows, err, weKnow)
			}
		}
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
