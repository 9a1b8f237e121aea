package validation_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-playground/validator/v10"

	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/problem/validation"
)

type Named struct {
	Value string `json:"value" validate:"required"`
}

type Promoted struct {
	Inner string `json:"inner" validate:"required"`
}

type promotedUnexported struct {
	Hidden string `json:"hidden_inner" validate:"required"`
}

type shapes struct {
	Promoted                             // fields promoted: #/inner
	*promotedUnexported                  // pointer, unexported type, still promoted
	Tagged              Named            `json:"tagged"` // embedded with a name would be like this field
	Untagged            string           `validate:"required"`
	Slash               string           `json:"a/b" validate:"required"`
	Tilde               string           `json:"c~d" validate:"required"`
	Both                string           `json:"~/~1" validate:"required"`
	Dotted              string           `json:"x.y[0]" validate:"required"`
	Space               string           `json:"with space" validate:"required"`
	Unicode             string           `json:"größe" validate:"required"`
	Percent             string           `json:"100%" validate:"required"`
	Quote               string           `json:"q\"uote" validate:"required"` //lint:ignore SA5008 invalid tag name: Go name is used
	Skipped             Named            `json:"-"`
	Nested              *Named           `json:"nested" validate:"required"`
	List                []Named          `json:"list" validate:"dive"`
	Grid                [][]int          `json:"grid" validate:"dive,dive,min=1"`
	Array               [2]Named         `json:"array" validate:"dive"`
	ByKey               map[string]Named `json:"by_key" validate:"dive"`
	ByInt               map[int]string   `json:"by_int" validate:"dive,required"`
	Keys                map[string]int   `json:"keys" validate:"dive,keys,min=2,endkeys"`
}

func newShapes() *shapes {
	return &shapes{
		promotedUnexported: &promotedUnexported{},
		Untagged:           "", // required
		Nested:             &Named{},
		List:               []Named{{Value: "ok"}, {}},
		Grid:               [][]int{{1}, {1, 0}},
		ByKey: map[string]Named{
			"plain":     {},
			"a/b~c":     {},
			"dot.ted]x": {},
			"ok":        {Value: "fine"},
		},
		ByInt: map[int]string{7: ""},
		Keys:  map[string]int{"k": 1},
	}
}

func TestValidatePointers(t *testing.T) {
	t.Parallel()
	want := []string{
		"#", // Skipped.Value: not in the document, so the enclosing object
		"#/Quote",
		"#/Untagged",
		"#/a~1b",
		"#/array/0/value",
		"#/array/1/value",
		"#/by_int/7",
		"#/by_key/a~1b~0c/value",
		"#/by_key/dot.ted%5Dx/value",
		"#/by_key/plain/value",
		"#/c~0d",
		"#/gr%C3%B6%C3%9Fe",
		"#/grid/1/1",
		"#/hidden_inner",
		"#/inner",
		"#/keys/k",
		"#/list/1/value",
		"#/nested/value",
		"#/tagged/value",
		"#/with%20space",
		"#/x.y%5B0%5D",
		"#/~0~1~01",
		"#/100%25",
	}
	slices.Sort(want)

	for _, custom := range []bool{false, true} {
		opts := validation.Options{}
		if custom {
			// A validator without a tag name function: pointers must not
			// depend on it.
			opts.Validate = validator.New()
		}
		v, err := validation.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		err = v.Validate(context.Background(), newShapes())
		if !errors.Is(err, validation.ErrInvalid) {
			t.Fatalf("Validate = %v, want ErrInvalid", err)
		}
		var got []string
		for _, vi := range validation.Violations(err) {
			got = append(got, vi.Pointer)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("custom validator %v: pointers\n got %q\nwant %q", custom, got, want)
		}
	}
}

// A field tagged json:"-" cannot be sent by the client; its failures point
// at the enclosing object.
func TestValidateSkippedField(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type inner struct {
		Secret string `json:"-" validate:"required"`
	}
	type outer struct {
		In inner `json:"in"`
	}
	got := validation.Violations(v.Validate(context.Background(), outer{}))
	want := []validation.Violation{{Pointer: "#/in", Detail: "is required", Rule: "required"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

type Page[T any] struct {
	Items []T `json:"items" validate:"dive"`
}

func TestValidateRootTypes(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"named struct", &Named{}, "#/value"},
		{"pointer to pointer", func() any { n := &Named{}; return &n }(), "#/value"},
		{"anonymous struct", &struct {
			Value string `json:"value" validate:"required"`
		}{}, "#/value"},
		{"generic struct", &Page[Named]{Items: []Named{{}}}, "#/items/0/value"},
		{"slice of structs", []Named{{Value: "x"}, {}}, "#/1/value"},
		{"slice of pointers", []*Named{{}}, "#/0/value"},
		{"map of structs", map[string]Named{"k/1": {}}, "#/k~11/value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vs := validation.Violations(v.Validate(context.Background(), tt.value))
			if len(vs) != 1 || vs[0].Pointer != tt.want {
				t.Errorf("violations %+v, want one at %s", vs, tt.want)
			}
		})
	}
}

func TestValidateProgrammingErrors(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range []any{nil, 42, (*Named)(nil), "text", []string{"no structs"}} {
		err := v.Validate(context.Background(), value)
		p, ok := problem.From(err)
		if !ok || p.Status != http.StatusInternalServerError {
			t.Errorf("Validate(%#v) = %v, want a 500 problem", value, err)
			continue
		}
		var invalid *validator.InvalidValidationError
		if !errors.As(err, &invalid) {
			t.Errorf("Validate(%#v): cause %v is not an InvalidValidationError", value, errors.Unwrap(err))
		}
	}
	if err := v.Validate(context.Background(), &Named{Value: "ok"}); err != nil {
		t.Errorf("valid value: %v", err)
	}
}

func TestProblem(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vv := validator.New(validator.WithRequiredStructEnabled(), validator.WithTagNameFuncBlankOmit())
	vv.RegisterTagNameFunc(validation.JSONFieldName)

	type pw struct {
		Password string `json:"password" validate:"required"`
		Confirm  string `json:"password_confirm" validate:"eqfield=Password"`
	}
	type wrapper struct {
		Promoted
		List []Named          `json:"list" validate:"dive"`
		Keys map[string]Named `json:"keys" validate:"dive"`
		PW   pw               `json:"pw"`
	}
	value := wrapper{List: []Named{{}}, Keys: map[string]Named{"a.b]": {}}, PW: pw{Password: "x", Confirm: "y"}}

	t.Run("validation errors", func(t *testing.T) {
		t.Parallel()
		p, ok := v.Problem(vv.Struct(value))
		if !ok || p.Status != http.StatusUnprocessableEntity || !errors.Is(p, validation.ErrInvalid) {
			t.Fatalf("Problem = %v, %v", p, ok)
		}
		want := []validation.Violation{
			{Pointer: "#/inner", Detail: "is required", Rule: "required"},
			{Pointer: "#/keys/a.b%5D/value", Detail: "is required", Rule: "required"},
			{Pointer: "#/list/0/value", Detail: "is required", Rule: "required"},
			// Without the type, the Go field name in the parameter cannot be
			// mapped, so it is left out rather than shown.
			{Pointer: "#/pw/password_confirm", Detail: "must be equal to another field", Rule: "eqfield"},
		}
		if got := validation.Violations(p); !reflect.DeepEqual(got, want) {
			t.Errorf("violations\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("typed is exact", func(t *testing.T) {
		t.Parallel()
		got := validation.Violations(v.Validate(context.Background(), value))
		want := validation.Violation{Pointer: "#/pw/password_confirm", Detail: "must be equal to password", Rule: "eqfield", Param: "password"}
		if len(got) != 4 || got[3] != want {
			t.Errorf("violations %+v, want the last to be %+v", got, want)
		}
	})
	t.Run("anonymous root", func(t *testing.T) {
		t.Parallel()
		p, _ := v.Problem(vv.Struct(struct {
			Deep Named `json:"deep"`
		}{}))
		if got := validation.Violations(p); len(got) != 1 || got[0].Pointer != "#/deep/value" {
			t.Errorf("violations %+v, want #/deep/value", got)
		}
	})
	t.Run("Var", func(t *testing.T) {
		t.Parallel()
		p, _ := v.Problem(vv.Var([]Named{{}}, "dive"))
		if got := validation.Violations(p); len(got) != 1 || got[0].Pointer != "#/0/value" {
			t.Errorf("violations %+v, want #/0/value", got)
		}
		p, _ = v.Problem(vv.Var("", "required"))
		if got := validation.Violations(p); len(got) != 1 || got[0].Pointer != "#" {
			t.Errorf("violations %+v, want #", got)
		}
	})
	t.Run("invalid validation", func(t *testing.T) {
		t.Parallel()
		cause := vv.Struct(nil)
		p, ok := v.Problem(cause)
		if !ok || p.Status != http.StatusInternalServerError || !errors.Is(p, cause) {
			t.Errorf("Problem = %v, %v; want a 500 with the cause", p, ok)
		}
	})
	t.Run("problem passes through", func(t *testing.T) {
		t.Parallel()
		in := problem.New(http.StatusConflict, "taken")
		p, ok := v.Problem(errors.Join(errors.New("context"), in))
		if !ok || p != in {
			t.Errorf("Problem = %v, %v; want the same problem", p, ok)
		}
	})
	t.Run("other errors", func(t *testing.T) {
		t.Parallel()
		for _, err := range []error{nil, errors.New("boom")} {
			if p, ok := v.Problem(err); ok || p != nil {
				t.Errorf("Problem(%v) = %v, %v; want nil, false", err, p, ok)
			}
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []validation.Options{
		{MaxBytes: -1},
		{ContentTypes: []string{"json"}},
		{ContentTypes: []string{"application/json; charset=utf-8"}},
		{ContentTypes: []string{"application/json", "not a type"}},
	} {
		if v, err := validation.New(opts); err == nil || v != nil {
			t.Errorf("New(%+v) = %v, %v; want an error", opts, v, err)
		} else if !strings.HasPrefix(err.Error(), "validation: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

// Struct-level validations report under names they choose; a name that is a
// real field gets its JSON name, an invented one is used as it is.
func TestStructLevelValidation(t *testing.T) {
	t.Parallel()
	type period struct {
		Start int `json:"start"`
		End   int `json:"end"`
	}
	vv := validator.New(validator.WithRequiredStructEnabled(), validator.WithTagNameFuncBlankOmit())
	vv.RegisterTagNameFunc(validation.JSONFieldName)
	vv.RegisterStructValidation(func(sl validator.StructLevel) {
		p := sl.Current().Interface().(period)
		if p.End < p.Start {
			sl.ReportError(p.End, "end", "End", "after_start", "")
			sl.ReportError(p, "range", "Range", "ordered", "")
		}
	}, period{})
	v, err := validation.New(validation.Options{Validate: vv})
	if err != nil {
		t.Fatal(err)
	}
	type booking struct {
		When period `json:"when"`
	}
	got := validation.Violations(v.Validate(context.Background(), booking{When: period{Start: 2, End: 1}}))
	want := []validation.Violation{
		{Pointer: "#/when/end", Detail: "is not valid", Rule: "after_start"},
		{Pointer: "#/when/range", Detail: "is not valid", Rule: "ordered"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("violations\n got %+v\nwant %+v", got, want)
	}
}
