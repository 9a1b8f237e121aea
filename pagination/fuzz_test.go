package pagination

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/backstop-go/backstop/problem"
)

var fuzzTypes = []problem.Type{
	ErrCursorMalformed, ErrCursorTampered, ErrCursorUnknownKey, ErrCursorExpired,
	ErrCursorSortMismatch, ErrCursorFilterMismatch, ErrCursorConflict, ErrLimitInvalid, ErrLimitExceeded,
}

// checkClientError fails unless err is a 400 problem of one of the
// package's types.
func checkClientError(t *testing.T, err error) {
	t.Helper()
	p, ok := problem.From(err)
	if !ok || p.Status != http.StatusBadRequest {
		t.Fatalf("error %v is not a 400 problem", err)
	}
	for _, ty := range fuzzTypes {
		if errors.Is(err, ty) {
			return
		}
	}
	t.Fatalf("error %v has an unknown type %q", err, p.Type)
}

func fuzzCodecs(t testing.TB) (*Codec, *Codec, *Sort) {
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	secrets := []Secret{{ID: 1, Key: bytes.Repeat([]byte{1}, 32)}, {ID: 2, Key: bytes.Repeat([]byte{2}, 32)}}
	signer, err := NewCodec(secrets, CodecOptions{TTL: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := NewCodec(secrets, CodecOptions{Encrypt: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSort(Key{Column: "a"}, Key{Column: "id", Unique: true})
	return signer, sealer, s
}

// FuzzDecode feeds arbitrary strings to Decode, and the same bytes as the
// body of a correctly signed cursor, which reaches the payload parser past
// the MAC. Every failure must be a 400 problem; every success must survive
// a re-encode.
func FuzzDecode(f *testing.F) {
	signer, sealer, s := fuzzCodecs(f)
	for _, c := range []*Codec{signer, sealer} {
		for _, v := range [][]any{
			{time.Unix(1_800_000_000, 5).UTC(), int64(1) << 60},
			{"name", uint64(7)},
			{[]byte{1, 2}, [16]byte{9}},
			{true, 1.5},
			{time.Unix(0, 0).In(time.FixedZone("", 3600)), false},
		} {
			tok, err := c.Encode(s, Cursor{Direction: Backward, Values: v}, "f")
			if err != nil {
				f.Fatal(err)
			}
			f.Add(tok)
		}
	}
	f.Add("")
	f.Add("AQEA")
	f.Add("not base64!")
	f.Fuzz(func(t *testing.T, token string) {
		for _, c := range []*Codec{signer, sealer} {
			for _, filter := range [][]string{nil, {"f"}} {
				checkDecode(t, c, s, token, filter)
			}
		}
		// The token's bytes as a signed body.
		raw := append([]byte{formatVersion, 1, modeSigned}, token...)
		raw = signer.keys[1].mac(raw, raw)[:len(raw)+tagLen]
		checkDecode(t, signer, s, strict.EncodeToString(raw), []string{"f"})
	})
}

func checkDecode(t *testing.T, c *Codec, s *Sort, token string, filter []string) {
	t.Helper()
	cur, err := c.Decode(token, s, filter...)
	if err != nil {
		checkClientError(t, err)
		return
	}
	if len(cur.Values) != s.Len() {
		t.Fatalf("decoded %d values", len(cur.Values))
	}
	again, err := c.Encode(s, cur, filter...)
	if err != nil {
		t.Fatalf("re-encode %#v: %v", cur, err)
	}
	back, err := c.Decode(again, s, filter...)
	if err != nil {
		t.Fatalf("decode the re-encoded cursor: %v", err)
	}
	if back.Direction != cur.Direction || !reflect.DeepEqual(normalize(back.Values), normalize(cur.Values)) {
		t.Fatalf("round trip changed %#v into %#v", cur, back)
	}
}

// normalize makes values comparable with DeepEqual: times by instant and
// offset, floats by bits (NaN != NaN).
func normalize(vs []any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		switch v := v.(type) {
		case time.Time:
			_, off := v.Zone()
			out[i] = [3]int64{v.Unix(), int64(v.Nanosecond()), int64(off)}
		case float64:
			out[i] = struct{ bits uint64 }{mathBits(v)}
		default:
			out[i] = v
		}
	}
	return out
}

// FuzzParse feeds arbitrary query strings to Paginator.Parse: every failure
// must be a 400 problem and every success a limit within bounds.
func FuzzParse(f *testing.F) {
	signer, _, s := fuzzCodecs(f)
	p, err := New(signer, s, Options{MaxLimit: 50})
	if err != nil {
		f.Fatal(err)
	}
	tok, err := signer.Encode(s, Cursor{Values: []any{"x", 1}})
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []string{
		"", "limit=10", "limit=0", "limit=-1", "limit=01", "limit=1e3", "limit=%2B5", "limit=99999999999999",
		"limit=5&limit=6", "cursor=" + tok, "after=" + tok, "before=" + tok, "cursor=" + tok + "&after=" + tok,
		"cursor=&limit=", "limit=%zz", "cursor=%00",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/items", nil)
		r.URL.RawQuery = query
		req, err := p.Parse(r)
		if err != nil {
			checkClientError(t, err)
			return
		}
		if req.Limit < 1 || req.Limit > 50 {
			t.Fatalf("limit %d", req.Limit)
		}
	})
}

func mathBits(f float64) uint64 { return math.Float64bits(f) }
