package pagination_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/backstop-go/backstop/pagination"
)

// benchCursor is the common two-key cursor: (created_at, id) with a
// microsecond timestamp and a snowflake-sized id.
var benchCursor = pagination.Cursor{Values: []any{
	time.Date(2026, 11, 24, 9, 30, 0, 123456000, time.UTC), int64(1)<<60 + 12345,
}}

func benchCodecs(b *testing.B) map[string]*pagination.Codec {
	return map[string]*pagination.Codec{
		"hmac":   mustCodec(b, []pagination.Secret{{ID: 2, Key: key2}, {ID: 1, Key: key1}}, pagination.CodecOptions{TTL: time.Hour}),
		"aesgcm": mustCodec(b, []pagination.Secret{{ID: 2, Key: key2}, {ID: 1, Key: key1}}, pagination.CodecOptions{TTL: time.Hour, Encrypt: true}),
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, mode := range []string{"hmac", "aesgcm"} {
		codec := benchCodecs(b)[mode]
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := codec.Encode(byNewest, benchCursor, "status=open"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, mode := range []string{"hmac", "aesgcm"} {
		codec := benchCodecs(b)[mode]
		tok, err := codec.Encode(byNewest, benchCursor, "status=open")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := codec.Decode(tok, byNewest, "status=open"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeTampered measures the cost of refusing a forged cursor.
func BenchmarkDecodeTampered(b *testing.B) {
	codec := benchCodecs(b)["hmac"]
	tok, err := codec.Encode(byNewest, benchCursor)
	if err != nil {
		b.Fatal(err)
	}
	bad := tok[:len(tok)-2] + "AA"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codec.Decode(bad, byNewest); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkRequest is a whole page: Parse with a cursor, Keyset, NewPage
// with 20 rows and the Link header.
func BenchmarkRequest(b *testing.B) {
	codec := benchCodecs(b)["hmac"]
	p, err := pagination.New(codec, byNewest, pagination.Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := codec.Encode(byNewest, benchCursor)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/items?limit=20&cursor="+tok, nil)
	rows := make([]int64, 21)
	at := benchCursor.Values[0].(time.Time)
	keys := func(id int64) []any { return []any{at, id} }
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		req, err := p.Parse(r)
		if err != nil {
			b.Fatal(err)
		}
		_ = req.Keyset(pagination.Postgres, 0)
		page, err := pagination.NewPage(req, rows, keys)
		if err != nil {
			b.Fatal(err)
		}
		page.SetLinkHeader(w, r)
	}
}

// BenchmarkBaselineJSON is the unsigned cursor many libraries ship (a JSON
// array of the key values in standard base64, as pilagod/gorm-cursor-paginator
// does), for scale. Its decode into []any turns the id into a float64 and
// loses it: 1<<60+12345 comes back as 1<<60.
func BenchmarkBaselineJSON(b *testing.B) {
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, err := json.Marshal(benchCursor.Values)
			if err != nil {
				b.Fatal(err)
			}
			_ = base64.StdEncoding.EncodeToString(raw)
		}
	})
	raw, _ := json.Marshal(benchCursor.Values)
	tok := base64.StdEncoding.EncodeToString(raw)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, err := base64.StdEncoding.DecodeString(tok)
			if err != nil {
				b.Fatal(err)
			}
			var vals []any
			if err := json.Unmarshal(raw, &vals); err != nil {
				b.Fatal(err)
			}
		}
	})
}
