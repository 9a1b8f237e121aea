package validation_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-playground/validator/v10"

	"github.com/backstop-go/backstop/problem/validation"
)

const (
	benchValid   = `{"email":"a@example.com","items":[{"sku":"A1","quantity":1},{"sku":"B2","quantity":3},{"sku":"C3","quantity":2}]}`
	benchInvalid = `{"email":"not-an-email","items":[{"sku":"A1","quantity":0},{"quantity":3},{"sku":"C3","quantity":2}]}`
)

// BenchmarkDecode compares Decode with the code it replaces: a plain
// json.Decoder and validator.Struct, with no limits, no checks and no
// mapping of errors.
func BenchmarkDecode(b *testing.B) {
	v, err := validation.New(validation.Options{})
	if err != nil {
		b.Fatal(err)
	}
	plain := validator.New(validator.WithRequiredStructEnabled())

	run := func(b *testing.B, body string, decode func(r *http.Request, dst *CreateOrder) error) {
		r := httptest.NewRequest(http.MethodPost, "/orders", nil)
		r.Header.Set("Content-Type", "application/json")
		r.ContentLength = int64(len(body))
		rd := bytes.NewReader([]byte(body))
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			rd.Reset([]byte(body))
			r.Body = io.NopCloser(rd)
			var dst CreateOrder
			_ = decode(r, &dst)
		}
	}
	baseline := func(r *http.Request, dst *CreateOrder) error {
		if err := json.NewDecoder(r.Body).Decode(dst); err != nil {
			return err
		}
		return plain.Struct(dst)
	}
	backstop := func(r *http.Request, dst *CreateOrder) error { return v.Decode(r, dst) }

	b.Run("valid/baseline", func(b *testing.B) { run(b, benchValid, baseline) })
	b.Run("valid/Decode", func(b *testing.B) { run(b, benchValid, backstop) })
	b.Run("invalid/baseline", func(b *testing.B) { run(b, benchInvalid, baseline) })
	b.Run("invalid/Decode", func(b *testing.B) { run(b, benchInvalid, backstop) })
}

// largeArray is a JSON array of small integers of about 976 KiB, under the
// default 1 MiB limit; with bad set, its last element is a string.
func largeArray(bad bool) string {
	var b strings.Builder
	b.WriteByte('[')
	for b.Len() < 976<<10 {
		b.WriteString("12345,")
	}
	if bad {
		b.WriteString(`"x"]`)
	} else {
		b.WriteString(`1]`)
	}
	return b.String()
}

// BenchmarkDecodeLargeArray compares a valid body with one of the same size
// whose last value has the wrong type: finding and reporting the error must
// not cost much more than decoding.
func BenchmarkDecodeLargeArray(b *testing.B) {
	v, err := validation.New(validation.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bad := range []bool{false, true} {
		name := "valid"
		if bad {
			name = "invalid"
		}
		body := []byte(largeArray(bad))
		b.Run(name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Header.Set("Content-Type", "application/json")
			r.ContentLength = int64(len(body))
			rd := bytes.NewReader(body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				rd.Reset(body)
				r.Body = io.NopCloser(rd)
				var dst []int
				if err := v.Decode(r, &dst); (err != nil) != bad {
					b.Fatal(err)
				}
			}
		})
	}
}
