package problem_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/problem"
)

// A malformed q (NaN, exponents, a sign, more than three decimals) excludes
// the range instead of ranking it; several Accept lines form one list.
func TestNegotiationStrictQValuesAndAcceptLines(t *testing.T) {
	tests := []struct {
		accept []string
		xml    bool
	}{
		{[]string{"application/json;q=NaN, application/problem+xml;q=0.1"}, true},
		{[]string{"application/json;q=nan, application/*;q=0.5, application/problem+xml;q=0.4"}, true},
		{[]string{"application/problem+xml;q=1e0, application/json;q=0.5"}, false},
		{[]string{"application/problem+xml;q=+1, application/json;q=0.5"}, false},
		{[]string{"application/problem+xml;q=.9, application/json;q=0.5"}, false},
		{[]string{"application/problem+xml;q=1.001, application/json;q=0.5"}, false},
		{[]string{"application/problem+xml;q=0.9, application/json;q=0.899"}, true},
		{[]string{"application/problem+xml;q=1.000, application/json;q=0.5"}, true},
		{[]string{"application/problem+xml;Q=0.9, application/json;q=0.5"}, true},
		{[]string{"application/json;q=0.1", "application/problem+xml"}, true},
		{[]string{"application/problem+xml;q=0.1", "application/json"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.accept, " | "), func(t *testing.T) {
			wr, _ := logBuffer(t, problem.Options{})
			req := httptest.NewRequest("GET", "/", nil)
			for _, a := range tt.accept {
				req.Header.Add("Accept", a)
			}
			rec := serve(wr, req, problem.New(404, ""))
			want := problem.ContentTypeJSON
			if tt.xml {
				want = problem.ContentTypeXML
			}
			if got := rec.Header().Get("Content-Type"); got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
		})
	}
}
