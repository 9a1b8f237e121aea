package problem_test

import (
	"encoding/json"
	"testing"

	"github.com/backstop-go/backstop/problem"
)

// Go 1.22+ encoding/json writes \b and \f as two-character escapes.
func TestMarshalJSONEscapesLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{"\b", "\f", "a\bb\fc", "\x00\x1f\x7f"} {
		got, err := json.Marshal(problem.New(400, s).With("x", s))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"type":"about:blank","title":"Bad Request","status":400,"detail":` + mustJSON(t, s) + `,"x":` + mustJSON(t, s) + `}`
		if string(got) != want {
			t.Errorf("%q:\ngot  %s\nwant %s", s, got, want)
		}
	}
}
