package validation_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/problem/validation"
)

type lineItem struct {
	SKU      string `json:"sku" validate:"required"`
	Quantity int8   `json:"quantity" validate:"min=1"`
}

type order struct {
	Email string              `json:"email" validate:"required,email"`
	Items []lineItem          `json:"items" validate:"required,dive"`
	Notes map[string]lineItem `json:"notes,omitempty" validate:"dive"`
	Due   time.Time           `json:"due"`
	Raw   json.RawMessage     `json:"raw,omitempty"`
	Code  strictCode          `json:"code,omitempty"`
}

// strictCode decodes with its own json.Decoder, so its errors carry offsets
// into its own input, not into the request body.
type strictCode struct{ Value string }

func (c *strictCode) UnmarshalJSON(b []byte) error {
	var s struct {
		V string `json:"v"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return err
	}
	c.Value = s.V
	return nil
}

const validOrder = `{"email":"a@example.com","items":[{"sku":"X1","quantity":2}],"due":"2030-01-02T03:04:05Z"}`

// errReader fails every Read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout" }
func (timeoutError) Timeout() bool { return true }

func TestDecode(t *testing.T) {
	t.Parallel()
	type header map[string]string
	jsonCT := header{"Content-Type": "application/json"}
	tests := []struct {
		name       string
		opts       validation.Options
		header     header
		body       string
		reader     io.Reader // replaces body when set
		noLength   bool      // send the body without Content-Length
		dst        func() any
		wantStatus int // 0: success
		wantType   error
		wantExt    map[string]any
		wantHeader header
		want       []validation.Violation
	}{
		{name: "valid", header: jsonCT, body: validOrder},
		{name: "valid with charset", header: header{"Content-Type": "application/json; charset=UTF-8"}, body: validOrder},
		{name: "valid +json type", header: header{"Content-Type": "application/merge-patch+json"}, body: validOrder},
		{name: "trailing white space", header: jsonCT, body: validOrder + " \r\n\t"},

		{name: "no content type", body: validOrder, wantStatus: 415, wantType: validation.ErrUnsupportedMediaType,
			wantHeader: header{"Accept": "application/json"}},
		{name: "text/plain", header: header{"Content-Type": "text/plain"}, body: validOrder, wantStatus: 415,
			wantType: validation.ErrUnsupportedMediaType, wantHeader: header{"Accept": "application/json"}},
		{name: "unparsable content type", header: header{"Content-Type": "application/json; ;"}, body: validOrder,
			wantStatus: 415, wantType: validation.ErrUnsupportedMediaType},
		{name: "utf-16", header: header{"Content-Type": "application/json; charset=utf-16"}, body: validOrder,
			wantStatus: 415, wantType: validation.ErrUnsupportedMediaType},
		{name: "gzip", header: header{"Content-Type": "application/json", "Content-Encoding": "gzip"}, body: validOrder,
			wantStatus: 415, wantType: validation.ErrUnsupportedMediaType, wantHeader: header{"Accept-Encoding": "identity"}},
		{name: "custom type refuses json", opts: validation.Options{ContentTypes: []string{"application/vnd.shop+json"}},
			header: jsonCT, body: validOrder, wantStatus: 415, wantType: validation.ErrUnsupportedMediaType,
			wantHeader: header{"Accept": "application/vnd.shop+json"}},
		{name: "custom type accepted", opts: validation.Options{ContentTypes: []string{"application/vnd.shop+json"}},
			header: header{"Content-Type": "Application/Vnd.Shop+JSON"}, body: validOrder},
		{name: "missing allowed", opts: validation.Options{ContentTypes: []string{"", "application/json"}}, body: validOrder},
		{name: "any type", opts: validation.Options{ContentTypes: []string{"*/*"}}, header: header{"Content-Type": "text/plain"}, body: validOrder},
		{name: "any type still needs one", opts: validation.Options{ContentTypes: []string{"*/*"}}, body: validOrder,
			wantStatus: 415, wantType: validation.ErrUnsupportedMediaType},

		{name: "too large by Content-Length", opts: validation.Options{MaxBytes: 16}, header: jsonCT, body: validOrder,
			wantStatus: 413, wantType: validation.ErrTooLarge, wantExt: map[string]any{"maxBytes": float64(16)}},
		{name: "too large while reading", opts: validation.Options{MaxBytes: 16}, header: jsonCT, body: validOrder, noLength: true,
			wantStatus: 413, wantType: validation.ErrTooLarge, wantExt: map[string]any{"maxBytes": float64(16)}},
		{name: "exactly the limit", opts: validation.Options{MaxBytes: int64(len(validOrder))}, header: jsonCT, body: validOrder, noLength: true},
		{name: "limit of an outer MaxBytesReader", header: jsonCT, noLength: true,
			reader:     http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(validOrder)), 10),
			wantStatus: 413, wantType: validation.ErrTooLarge, wantExt: map[string]any{"maxBytes": float64(10)}},

		{name: "empty", header: jsonCT, body: "", wantStatus: 400, wantType: validation.ErrEmptyBody},
		{name: "white space only", header: jsonCT, body: " \n\t\r ", wantStatus: 400, wantType: validation.ErrEmptyBody},

		{name: "syntax error", header: jsonCT, body: `{"email": x}`, wantStatus: 400, wantType: validation.ErrMalformed,
			wantExt: map[string]any{"offset": float64(10)}},
		{name: "truncated", header: jsonCT, body: `{"items":[{"sku":`, wantStatus: 400, wantType: validation.ErrMalformed,
			wantExt: map[string]any{"offset": float64(17)}},
		{name: "two values", header: jsonCT, body: validOrder + ` {}`, wantStatus: 400, wantType: validation.ErrMalformed,
			wantExt: map[string]any{"offset": float64(len(validOrder) + 1)}},
		{name: "garbage after value", header: jsonCT, body: validOrder + `x`, wantStatus: 400, wantType: validation.ErrMalformed,
			wantExt: map[string]any{"offset": float64(len(validOrder))}},

		{name: "malformed wins over a wrong type", header: jsonCT, body: `{"email":1} {`, wantStatus: 400, wantType: validation.ErrMalformed,
			wantExt: map[string]any{"offset": float64(12)}},
		{name: "malformed wins over an unknown member", header: jsonCT, body: `{"x":1,"email":}`, wantStatus: 400, wantType: validation.ErrMalformed,
			wantExt: map[string]any{"offset": float64(15)}},
		{name: "string for int", header: jsonCT, body: `{"email":"a@example.com","items":[{"sku":"a","quantity":1},{"sku":"b","quantity":"2"}]}`,
			wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/items/1/quantity", Detail: "must be an integer", Rule: "type"}}},
		{name: "out of range", header: jsonCT, body: `{"items":[{"quantity":300}]}`, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/items/0/quantity", Detail: "must be an integer from -128 to 127", Rule: "type"}}},
		{name: "fraction for int", header: jsonCT, body: `{"items":[{"quantity":1.5}]}`, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/items/0/quantity", Detail: "must be an integer", Rule: "type"}}},
		{name: "object for array", header: jsonCT, body: `{"items":{"sku":"a"}}`, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/items", Detail: "must be an array", Rule: "type"}}},
		{name: "number for string in map", header: jsonCT, body: `{"notes":{"a/b":{"sku":7}}}`, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/notes/a~1b/sku", Detail: "must be a string", Rule: "type"}}},
		{name: "array for struct", header: jsonCT, body: ` [1] `, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#", Detail: "must be an object", Rule: "type"}}},
		{name: "bad date", header: jsonCT, body: `{"due":"tomorrow"}`, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/due", Detail: "must be a date-time in RFC 3339 format", Rule: "format"}}},
		{name: "custom decoder with its own syntax error", header: jsonCT, body: `{"code":"abc"}`, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/code", Detail: "is not in a valid format", Rule: "format"}}},
		{name: "custom decoder with its own unknown field", header: jsonCT, body: `{"code":{"w":1}}`, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/code", Detail: "is not in a valid format", Rule: "format"}}},

		{name: "unknown members", header: jsonCT,
			body:       `{"emial":"x","items":[{"sku":"a","quantity":1,"colour":"red"}],"raw":{"anything":1},"notes":{"k":{"sku":"s","quantity":1,"x~y":0}}}`,
			wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{
				{Pointer: "#/emial", Detail: "is not a known member", Rule: "unknown"},
				{Pointer: "#/items/0/colour", Detail: "is not a known member", Rule: "unknown"},
				{Pointer: "#/notes/k/x~0y", Detail: "is not a known member", Rule: "unknown"},
			}},
		{name: "member names bind exactly", header: jsonCT, body: `{"EMAIL":"a@example.com","Items":[{"SKU":"a","Quantity":1}]}`,
			wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{
				{Pointer: "#/EMAIL", Detail: "is not a known member", Rule: "unknown"},
				{Pointer: "#/Items", Detail: "is not a known member", Rule: "unknown"},
			}},
		{name: "case-variant member does not override", header: jsonCT, body: `{"email":"a@example.com","items":[],"EMAIL":"b@example.com"}`,
			wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/EMAIL", Detail: "is not a known member", Rule: "unknown"}}},
		{name: "lenient names bind in any case", opts: validation.Options{LenientNames: true}, header: jsonCT,
			body: `{"EMAIL":"a@example.com","Items":[{"SKU":"a","Quantity":1}]}`},
		{name: "repeated member", header: jsonCT, body: `{"email":"a@example.com","items":[{"sku":"a","quantity":1,"quantity":100}]}`,
			wantStatus: 400, wantType: validation.ErrMalformed,
			wantExt: map[string]any{"offset": float64(58), "pointer": "#/items/0/quantity"}},
		{name: "repeated member after a wrong type", header: jsonCT, body: `{"email":1,"items":[],"items":[]}`,
			wantStatus: 400, wantType: validation.ErrMalformed,
			wantExt: map[string]any{"offset": float64(22), "pointer": "#/items"}},
		{name: "lenient names take the last of a repeated member", opts: validation.Options{LenientNames: true}, header: jsonCT,
			body: `{"email":"a@example.com","items":[{"sku":"a","quantity":0,"quantity":1}]}`},
		{name: "unknown members allowed", opts: validation.Options{AllowUnknownFields: true}, header: jsonCT,
			body: `{"emial":"x","email":"a@example.com","items":[{"sku":"a","quantity":1,"colour":"red"}]}`},

		{name: "validation", header: jsonCT,
			body:       `{"email":"not-an-email","items":[{"sku":"a","quantity":0},{"quantity":1}],"notes":{"b":{"quantity":1},"a":{"sku":"x"}}}`,
			wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{
				{Pointer: "#/email", Detail: "must be a valid email address", Rule: "email"},
				{Pointer: "#/items/0/quantity", Detail: "must be 1 or greater", Rule: "min", Param: "1"},
				{Pointer: "#/items/1/sku", Detail: "is required", Rule: "required"},
				{Pointer: "#/notes/a/quantity", Detail: "must be 1 or greater", Rule: "min", Param: "1"},
				{Pointer: "#/notes/b/sku", Detail: "is required", Rule: "required"},
			}},
		{name: "null is an empty order", header: jsonCT, body: `null`, wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{
				{Pointer: "#/email", Detail: "is required", Rule: "required"},
				{Pointer: "#/items", Detail: "is required", Rule: "required"},
			}},

		{name: "slice destination is validated", header: jsonCT, body: `[{"sku":"a","quantity":1},{"sku":"b","quantity":0}]`,
			dst:        func() any { return new([]lineItem) },
			wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/1/quantity", Detail: "must be 1 or greater", Rule: "min", Param: "1"}}},
		{name: "null into a pointer field", header: jsonCT, body: `null`, dst: func() any { return new(*order) }},
		{name: "null elements", header: jsonCT, body: `[null,{"sku":"a","quantity":1}]`, dst: func() any { return new([]*lineItem) }},
		{name: "pointer elements are validated", header: jsonCT, body: `[null,{"sku":"a"}]`, dst: func() any { return new([]*lineItem) },
			wantStatus: 422, wantType: validation.ErrInvalid,
			want: []validation.Violation{{Pointer: "#/1/quantity", Detail: "must be 1 or greater", Rule: "min", Param: "1"}}},
		{name: "map destination", header: jsonCT, body: `{"a":1}`, dst: func() any { return new(map[string]any) }},
		{name: "scalar destination", header: jsonCT, body: `42`, dst: func() any { return new(int) }},
		{name: "non-pointer destination", header: jsonCT, body: validOrder, dst: func() any { return order{} }, wantStatus: 500},
		{name: "nil pointer destination", header: jsonCT, body: validOrder, dst: func() any { return (*order)(nil) }, wantStatus: 500},
		{name: "destination with two fields of one name", header: jsonCT, body: `{"x":1}`, wantStatus: 500,
			dst: func() any {
				// Built at run time: go vet refuses the repeated tag in source.
				return reflect.New(reflect.StructOf([]reflect.StructField{
					{Name: "A", Type: reflect.TypeFor[int](), Tag: `json:"x"`},
					{Name: "B", Type: reflect.TypeFor[int](), Tag: `json:"x"`},
				})).Interface()
			}},
		{name: "encoding/json types", header: jsonCT, body: `{"n":12345678901234567890,"raw":{"a":[1]},"any":{"b":1.5}}`,
			dst: func() any {
				return new(struct {
					N   json.Number     `json:"n"`
					Raw json.RawMessage `json:"raw"`
					Any any             `json:"any"`
				})
			}},
		{name: "encoding/json Number refuses a string", header: jsonCT, body: `{"n":"x"}`, wantStatus: 422, wantType: validation.ErrInvalid,
			dst: func() any {
				return new(struct {
					N json.Number `json:"n"`
				})
			},
			want: []validation.Violation{{Pointer: "#/n", Detail: "must be a number", Rule: "type"}}},

		{name: "read error", header: jsonCT, reader: errReader{io.ErrUnexpectedEOF}, wantStatus: 400},
		{name: "read timeout", header: jsonCT, reader: errReader{timeoutError{}}, wantStatus: 408},
		{name: "read deadline", header: jsonCT, reader: errReader{os.ErrDeadlineExceeded}, wantStatus: 408},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := validation.New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var body io.Reader = strings.NewReader(tt.body)
			if tt.reader != nil {
				body = tt.reader
			}
			if tt.noLength || tt.reader != nil {
				body = io.MultiReader(body) // hides the length from httptest
			}
			r := httptest.NewRequest(http.MethodPost, "/orders", body)
			for k, val := range tt.header {
				r.Header.Set(k, val)
			}
			var dst any = new(order)
			if tt.dst != nil {
				dst = tt.dst()
			}
			err = v.Decode(r, dst)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			p, ok := problem.From(err)
			if !ok {
				t.Fatalf("Decode returned %T %v, want a *problem.Problem", err, err)
			}
			if p.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d (%v)", p.Status, tt.wantStatus, p)
			}
			if tt.wantType != nil && !errors.Is(err, tt.wantType) {
				t.Errorf("type = %q, want %v", p.Type, tt.wantType)
			}
			if tt.wantStatus >= 500 && errors.Unwrap(err) == nil {
				t.Error("a 500 problem has no cause for the log")
			}

			// What the client gets.
			w := httptest.NewRecorder()
			quietWriter.Write(w, r, err)
			if w.Code != tt.wantStatus {
				t.Errorf("written status = %d, want %d", w.Code, tt.wantStatus)
			}
			for k, val := range tt.wantHeader {
				if got := w.Header().Get(k); got != val {
					t.Errorf("header %s = %q, want %q", k, got, val)
				}
			}
			var members map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &members); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			for k, val := range tt.wantExt {
				if !reflect.DeepEqual(members[k], val) {
					t.Errorf("member %s = %#v, want %#v", k, members[k], val)
				}
			}
			parsed, err := problem.Parse(w.Result())
			if err != nil {
				t.Fatal(err)
			}
			got := validation.Violations(parsed)
			if tt.want == nil && tt.wantType != validation.ErrInvalid {
				if got != nil {
					t.Errorf("violations = %+v, want none", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("violations:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeNilBody(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []io.ReadCloser{nil, http.NoBody} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Content-Type", "application/json")
		r.Body = body
		if err := v.Decode(r, new(order)); !errors.Is(err, validation.ErrEmptyBody) {
			t.Errorf("body %v: Decode = %v, want ErrEmptyBody", body, err)
		}
	}
}

func TestDecodeFillsDestination(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(validOrder))
	r.Header.Set("Content-Type", "application/json")
	var got order
	if err := v.Decode(r, &got); err != nil {
		t.Fatal(err)
	}
	want := order{
		Email: "a@example.com",
		Items: []lineItem{{SKU: "X1", Quantity: 2}},
		Due:   time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// The validator sees the request's context, for validations that need it.
func TestDecodePassesContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	vv := validator.New()
	err := vv.RegisterValidationCtx("seen", func(ctx context.Context, _ validator.FieldLevel) bool {
		return ctx.Value(key{}) == "seen"
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := validation.New(validation.Options{Validate: vv})
	if err != nil {
		t.Fatal(err)
	}
	for _, withValue := range []bool{true, false} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"name":"x"}`))
		r.Header.Set("Content-Type", "application/json")
		if withValue {
			r = r.WithContext(context.WithValue(r.Context(), key{}, "seen"))
		}
		var dst struct {
			Name string `json:"name" validate:"seen"`
		}
		err := v.Decode(r, &dst)
		if withValue != (err == nil) {
			t.Errorf("context value set: %v; Decode = %v", withValue, err)
		}
	}
}

// quietWriter writes problems like problem.Write without logging 500s.
var quietWriter = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})

func TestTypeDetails(t *testing.T) {
	t.Parallel()
	type kinds struct {
		B     bool              `json:"b"`
		U8    uint8             `json:"u8"`
		I     int               `json:"i"`
		F32   float32           `json:"f32"`
		F64   float64           `json:"f64"`
		S     string            `json:"s"`
		Bytes []byte            `json:"bytes"`
		Arr   [2]int            `json:"arr"`
		Obj   struct{ X int }   `json:"obj"`
		ByInt map[int]string    `json:"by_int"`
		ByStr map[string]string `json:"by_str"`
		Text  textOnly          `json:"text"`
		Any   any               `json:"any"`
	}
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body, pointer, detail, rule string
	}{
		{`{"b":"yes"}`, "#/b", "must be a boolean", "type"},
		{`{"u8":-1}`, "#/u8", "must be an integer from 0 to 255", "type"},
		{`{"u8":256}`, "#/u8", "must be an integer from 0 to 255", "type"},
		{`{"i":1e3}`, "#/i", "must be an integer", "type"},
		{`{"i":true}`, "#/i", "must be an integer", "type"},
		{`{"f32":1e39}`, "#/f32", "is out of range", "type"},
		{`{"f64":"1"}`, "#/f64", "must be a number", "type"},
		{`{"s":{}}`, "#/s", "must be a string", "type"},
		{`{"bytes":7}`, "#/bytes", "must be a base64 string", "type"},
		{`{"bytes":"%%%"}`, "#/bytes", "must be a base64 string", "format"},
		{`{"arr":{}}`, "#/arr", "must be an array", "type"},
		{`{"obj":[]}`, "#/obj", "must be an object", "type"},
		{`{"by_int":{"x":"a"}}`, "#/by_int/x", "has a member name that is not an integer in range", "type"},
		{`{"by_str":{"k":1}}`, "#/by_str/k", "must be a string", "type"},
		{`{"text":"bad"}`, "#/text", "is not in a valid format", "format"},
		{`{"text":5}`, "#/text", "is not in a valid format", "format"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", "application/json")
		got := validation.Violations(v.Decode(r, new(kinds)))
		want := []validation.Violation{{Pointer: tt.pointer, Detail: tt.detail, Rule: tt.rule}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.body, got, want)
		}
	}
}

// textOnly accepts only the string "ok".
type textOnly struct{}

func (*textOnly) UnmarshalText(b []byte) error {
	if string(b) != "ok" {
		return errors.New("not ok")
	}
	return nil
}

// Fields with the ",string" option (int64 ids for JavaScript clients) are
// refused by encoding/json without saying where; the violation must still
// point at the member.
func TestDecodeStringOption(t *testing.T) {
	t.Parallel()
	type account struct {
		ID    int64 `json:"id,string"`
		Admin *bool `json:"admin,omitempty,string"`
		Inner struct {
			N uint8   `json:"n,string"`
			S string  `json:"s,string"`
			F float64 `json:"f,string"`
		} `json:"inner"`
	}
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body string
		want []validation.Violation // nil: accepted
	}{
		{`{"id":"42","admin":"true","inner":{"n":"7","s":"\"x\"","f":"1.5"}}`, nil},
		{`{"id":null,"admin":null,"inner":{"n":"null"}}`, nil},
		{`{"id":42}`, []validation.Violation{{Pointer: "#/id", Detail: "must be a string", Rule: "type"}}},
		{`{"id":"4x2"}`, []validation.Violation{{Pointer: "#/id", Detail: "must be a string holding an integer", Rule: "type"}}},
		{`{"id":"9223372036854775808"}`, []validation.Violation{{Pointer: "#/id", Detail: "must be an integer from -9223372036854775808 to 9223372036854775807", Rule: "type"}}},
		{`{"id":"abc"}`, []validation.Violation{{Pointer: "#/id", Detail: "must be a string holding an integer", Rule: "type"}}},
		{`{"id":"1","admin":"yes"}`, []validation.Violation{{Pointer: "#/admin", Detail: "must be a string holding true or false", Rule: "type"}}},
		{`{"id":"1","admin":true}`, []validation.Violation{{Pointer: "#/admin", Detail: "must be a string", Rule: "type"}}},
		{`{"inner":{"n":"300"}}`, []validation.Violation{{Pointer: "#/inner/n", Detail: "must be an integer from 0 to 255", Rule: "type"}}},
		{`{"inner":{"n":[7]}}`, []validation.Violation{{Pointer: "#/inner/n", Detail: "must be a string", Rule: "type"}}},
		{`{"inner":{"s":"x"}}`, []validation.Violation{{Pointer: "#/inner/s", Detail: "must be a string holding a JSON string", Rule: "type"}}},
		{`{"inner":{"f":""}}`, []validation.Violation{{Pointer: "#/inner/f", Detail: "must be a string holding a number", Rule: "type"}}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", "application/json")
		err := v.Decode(r, new(account))
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.body, err)
			}
			continue
		}
		if got := validation.Violations(err); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.body, got, tt.want)
		}
	}
}

// With unknown members allowed, a case variant of a declared member is an
// unknown member and ignored: it never overrides the declared one, in
// either order.
func TestAllowUnknownFieldsKeepsExactNames(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{AllowUnknownFields: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"email":"a@example.com","items":[{"sku":"a","quantity":1,"QUANTITY":100}],"EMAIL":"b@example.com"}`,
		`{"EMAIL":"b@example.com","email":"a@example.com","items":[{"QUANTITY":100,"sku":"a","quantity":1}]}`,
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var o order
		if err := v.Decode(r, &o); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if o.Email != "a@example.com" || len(o.Items) != 1 || o.Items[0].Quantity != 1 {
			t.Errorf("%s: decoded %+v, want the exactly named members", body, o)
		}
	}
}
