package validation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/problem/validation"
)

// oneField returns a pointer to a struct with one field "f" of value's type,
// set to value, with the given validate tag.
func oneField(tag string, value any) any {
	t := reflect.StructOf([]reflect.StructField{{
		Name: "F", Type: reflect.TypeOf(value),
		Tag: reflect.StructTag(`json:"f" validate:"` + tag + `"`),
	}})
	p := reflect.New(t)
	p.Elem().Field(0).Set(reflect.ValueOf(value))
	return p.Interface()
}

func TestMessages(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	tests := []struct {
		tag   string
		value any
		want  string
	}{
		{"required", "", "is required"},
		{"min=3", "ab", "must be at least 3 characters long"},
		{"min=1", "", "must be at least 1 character long"},
		{"max=2", "abc", "must be at most 2 characters long"},
		{"len=4", "abc", "must be exactly 4 characters long"},
		{"min=2", []int{1}, "must contain at least 2 items"},
		{"max=1", map[string]int{"a": 1, "b": 2}, "must contain at most 1 item"},
		{"len=2", []string{}, "must contain exactly 2 items"},
		{"min=5", 4, "must be 5 or greater"},
		{"max=5", 6.5, "must be 5 or less"},
		{"len=5", uint(4), "must be equal to 5"},
		{"gte=10", 9, "must be 10 or greater"},
		{"gt=10", 10, "must be greater than 10"},
		{"lte=10", 11, "must be 10 or less"},
		{"lt=10", 10, "must be less than 10"},
		{"gt=2", "ab", "must be longer than 2 characters"},
		{"lt=2", []int{1, 2}, "must contain fewer than 2 items"},
		{"eq=3", 4, "must be equal to 3"},
		{"ne=3", 3, "must not be equal to 3"},
		{"gt", past, "must be in the future"},
		{"gte", past, "must not be in the past"},
		{"lt", time.Now().Add(time.Hour), "must be in the past"},
		{"oneof=red green blue", "pink", "must be one of: red, green, blue"},
		{"email", "nope", "must be a valid email address"},
		{"url", "nope", "must be a valid URL"},
		{"uuid", "nope", "must be a valid UUID"},
		{"uuid4", "nope", "must be a valid version 4 UUID"},
		{"alphanum", "a-b", "must contain only letters and digits"},
		{"startswith=ab", "xy", "must start with 'ab'"},
		{"contains=@", "xy", "must contain '@'"},
		{"datetime=2006-01-02", "nope", "must be a date-time in the layout 2006-01-02"},
		{"unique", []int{1, 1}, "must not contain duplicates"},
		{"e164", "123", "must be a phone number in E.164 format"},
		{"iso3166_1_alpha2", "xx", "must be an ISO 3166-1 alpha-2 country code"},
		{"ip", "x", "must be a valid IP address"},
		{"isdefault", "x", "must be absent"},
		{"hexcolor|rgb", "x", "is not valid"}, // or-ed rules have no one message
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			t.Parallel()
			vs := validation.Violations(v.Validate(context.Background(), oneField(tt.tag, tt.value)))
			if len(vs) != 1 {
				t.Fatalf("violations %+v, want one", vs)
			}
			if vs[0].Detail != tt.want {
				t.Errorf("detail %q, want %q", vs[0].Detail, tt.want)
			}
			if vs[0].Pointer != "#/f" {
				t.Errorf("pointer %q, want #/f", vs[0].Pointer)
			}
		})
	}
}

func TestCrossFieldParams(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type inner struct {
		Limit int `json:"limit"`
	}
	type form struct {
		Kind    string `json:"kind"`
		Card    string `json:"card_number" validate:"required_if=Kind card"`
		Phone   string `json:"phone"`
		Email   string `json:"email" validate:"required_without=Phone"`
		Start   int    `json:"start"`
		End     int    `json:"end" validate:"gtfield=Start"`
		Inner   inner  `json:"inner"`
		Maximum int    `json:"maximum" validate:"ltecsfield=Inner.Limit"`
	}
	got := validation.Violations(v.Validate(context.Background(), &form{Kind: "card", Start: 5, End: 1, Maximum: 3}))
	want := []validation.Violation{
		{Pointer: "#/card_number", Detail: "is required when kind is card", Rule: "required_if", Param: "kind card"},
		{Pointer: "#/email", Detail: "is required when phone is absent", Rule: "required_without", Param: "phone"},
		{Pointer: "#/end", Detail: "must be greater than start", Rule: "gtfield", Param: "start"},
		{Pointer: "#/maximum", Detail: "must be less than or equal to another field", Rule: "ltecsfield"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("violations\n got %+v\nwant %+v", got, want)
	}
}

// CrossFieldMeta is embedded by the forms of TestCrossFieldParamsEmbedded.
type CrossFieldMeta struct {
	Kind  string `json:"kind"`
	Start int    `json:"start"`
}

// TestCrossFieldParamsEmbedded checks that a rule's parameter names a field
// of an embedded struct by its JSON name only when the struct's members are
// promoted into the object: behind a json tag they live in a member object
// of their own, and naming them as siblings would point the client at
// members the object does not have.
func TestCrossFieldParamsEmbedded(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type promoted struct {
		CrossFieldMeta
		Card string `json:"card" validate:"required_if=Kind card"`
		End  int    `json:"end" validate:"gtfield=Start"`
	}
	type nested struct {
		CrossFieldMeta `json:"meta"`
		Card           string `json:"card" validate:"required_if=Kind card"`
		End            int    `json:"end" validate:"gtfield=Start"`
	}
	type hidden struct {
		CrossFieldMeta `json:"-"`
		Card           string `json:"card" validate:"required_if=Kind card"`
	}
	meta := CrossFieldMeta{Kind: "card", Start: 5}
	tests := []struct {
		name string
		s    any
		want []validation.Violation
	}{
		{"promoted", &promoted{CrossFieldMeta: meta, End: 1}, []validation.Violation{
			{Pointer: "#/card", Detail: "is required when kind is card", Rule: "required_if", Param: "kind card"},
			{Pointer: "#/end", Detail: "must be greater than start", Rule: "gtfield", Param: "start"},
		}},
		{"tagged", &nested{CrossFieldMeta: meta, End: 1}, []validation.Violation{
			{Pointer: "#/card", Detail: "is required when another field is set", Rule: "required_if"},
			{Pointer: "#/end", Detail: "must be greater than another field", Rule: "gtfield"},
		}},
		{"hidden", &hidden{CrossFieldMeta: meta}, []validation.Violation{
			{Pointer: "#/card", Detail: "is required when another field is set", Rule: "required_if"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := validation.Violations(v.Validate(context.Background(), tt.s))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("violations\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMessageHook(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{Message: func(fe validator.FieldError) string {
		if fe.Tag() == "email" {
			return fe.Field() + " doit être une adresse e-mail"
		}
		return "" // keep the built-in text
	}})
	if err != nil {
		t.Fatal(err)
	}
	type user struct {
		Email string `json:"courriel" validate:"email"`
		Name  string `json:"nom" validate:"required"`
	}
	got := validation.Violations(v.Validate(context.Background(), user{Email: "x"}))
	want := []validation.Violation{
		{Pointer: "#/courriel", Detail: "courriel doit être une adresse e-mail", Rule: "email"},
		{Pointer: "#/nom", Detail: "is required", Rule: "required"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("violations\n got %+v\nwant %+v", got, want)
	}
}

// The submitted values, which may be passwords or tokens, never reach the
// response: not in details, params, headers, the JSON form or the XML form.
func TestNoValueEchoed(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-S3CR3T"
	type account struct {
		Email    string    `json:"email" validate:"email"`
		Password string    `json:"password" validate:"min=40,alphanum"`
		Confirm  string    `json:"confirm" validate:"eqfield=Password"`
		PIN      string    `json:"pin" validate:"len=4,numeric"`
		Role     string    `json:"role" validate:"oneof=admin user"`
		Token    string    `json:"token" validate:"uuid"`
		Count    int       `json:"count"`
		When     time.Time `json:"when"`
		Tags     []string  `json:"tags" validate:"dive,max=3"`
	}
	bodies := []string{
		`{"email":"` + secret + `","password":"` + secret + `","confirm":"x` + secret + `","pin":"` + secret +
			`","role":"` + secret + `","token":"` + secret + `","tags":["` + secret + `"]}`,
		`{"count":"` + secret + `"}`,
		`{"count":1` + secret + `}`,
		`{"when":"` + secret + `"}`,
		`{"email":` + secret + `}`,
		`"` + secret + `"`,
	}
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range bodies {
		for _, accept := range []string{"application/json", "application/problem+xml"} {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Accept", accept)
			err := v.Decode(r, new(account))
			if err == nil {
				t.Fatalf("body %s: no error", body)
			}
			if p, _ := problem.From(err); strings.Contains(p.Detail, secret) {
				t.Errorf("detail %q echoes the value", p.Detail)
			}
			w := httptest.NewRecorder()
			quietWriter.Write(w, r, err)
			if strings.Contains(w.Body.String(), secret) {
				t.Errorf("body %s, Accept %s: response echoes the value:\n%s", body, accept, w.Body)
			}
			for k, vals := range w.Header() {
				for _, val := range vals {
					if strings.Contains(val, secret) {
						t.Errorf("header %s echoes the value", k)
					}
				}
			}
			if accept == "application/json" && !json.Valid(w.Body.Bytes()) {
				t.Errorf("invalid JSON %s", w.Body)
			}
		}
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	p := validation.Invalid(validation.Violation{Pointer: validation.Pointer("email"), Detail: "is already registered", Rule: "taken"})
	if p.Status != http.StatusUnprocessableEntity || p.Detail != "The request content has 1 error." {
		t.Errorf("Invalid = %v", p)
	}
	many := make([]validation.Violation, validation.MaxViolations+5)
	p = validation.Invalid(many...)
	if got := len(validation.Violations(p)); got != validation.MaxViolations {
		t.Errorf("%d violations listed, want %d", got, validation.MaxViolations)
	}
	if want := "The request content has 105 errors; the first 100 are listed."; p.Detail != want {
		t.Errorf("detail %q, want %q", p.Detail, want)
	}
}

// Unknown members beyond MaxViolations are counted, not listed.
func TestManyUnknownMembers(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`{"name":"x"`)
	for i := range 250 {
		b.WriteString(`,"u` + strconv.Itoa(i) + `":1`)
	}
	b.WriteString("}")
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(b.String()))
	r.Header.Set("Content-Type", "application/json")
	var dst struct {
		Name string `json:"name"`
	}
	err = v.Decode(r, &dst)
	p, _ := problem.From(err)
	if p == nil || len(validation.Violations(err)) != validation.MaxViolations ||
		p.Detail != "The request content has 250 errors; the first 100 are listed." {
		t.Errorf("Decode = %v with %d violations", err, len(validation.Violations(err)))
	}
}
