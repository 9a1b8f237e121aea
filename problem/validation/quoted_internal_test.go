package validation

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
)

// quotedOption and quotedLiteralOK must agree with encoding/json about the
// ",string" option: which fields it applies to, and which contents of the
// string it refuses without an UnmarshalTypeError (so without saying where,
// and only the walker can point at the member).
func TestQuotedAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	types := []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[string](), reflect.TypeFor[int8](),
		reflect.TypeFor[uint16](), reflect.TypeFor[float64](), reflect.TypeFor[json.Number](),
		reflect.TypeFor[*int64](),
	}
	inners := []string{"", "null", "nul", "true", "false", "truex", "5", "-1", "300", "1.5", "1e3", "abc",
		`"x"`, `"5"`, `"`, `"a" "b"`, `"\u00e9"`, " 5", "5 ", "[1]", "{}", "-"}
	for _, typ := range types {
		st := reflect.StructOf([]reflect.StructField{{Name: "V", Type: typ, Tag: `json:"v,string"`}})
		if !quotedOption(st.Field(0)) {
			t.Errorf("%v: the ,string option not seen", typ)
		}
		for _, inner := range inners {
			body := `{"v":` + strconv.Quote(inner) + `}`
			err := json.Unmarshal([]byte(body), reflect.New(st).Interface())
			var located *json.UnmarshalTypeError
			want := err == nil || errors.As(err, &located)
			if got := quotedLiteralOK(inner, deref(typ)); got != want {
				t.Errorf("%v, %s: quotedLiteralOK = %v, but encoding/json says %v", typ, body, got, err)
			}
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[[]int](), reflect.TypeFor[**int](), reflect.TypeFor[struct{}]()} {
		sf := reflect.StructOf([]reflect.StructField{{Name: "V", Type: typ, Tag: `json:"v,omitempty,string"`}}).Field(0)
		if quotedOption(sf) {
			t.Errorf("%v: encoding/json ignores ,string here", typ)
		}
	}
}
