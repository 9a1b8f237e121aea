package health_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/backstop-go/backstop/health"
)

// nilErr is an error type whose Error method needs a non-nil receiver, as
// most do: a check that returns a nil *nilErr returns a non-nil error.
type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg }

func TestTypedNilErrorFailsWithoutCrashing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{ShowErrors: func(*http.Request) bool { return true }})
		reg.Register("typed-nil", func(context.Context) error {
			var err *nilErr
			return err
		}, health.CheckOptions{})
		rep := reg.Check(t.Context(), health.Ready)
		if rep.Status != health.StatusFail {
			t.Errorf("status %v, want fail: a typed nil is a non-nil error", rep.Status)
		}
		for _, target := range []string{"/readyz", "/readyz?verbose"} {
			rec := get(reg.Handler(health.Ready), target)
			if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "<nil>") {
				t.Errorf("%s: %d %q, want 503 with the error shown as <nil>", target, rec.Code, rec.Body)
			}
		}
	})
}

// A check name is promised to be "one URL path segment", so /readyz/{name}
// must reach it; "." and ".." are dot-segments that clients and ServeMux
// remove from paths. Register must refuse them or serve them.
func TestDotSegmentNamesAreRefusedOrReachable(t *testing.T) {
	for _, name := range []string{".", ".."} {
		t.Run(name, func(t *testing.T) {
			reg := newRegistry(t, health.Options{})
			registered := func() (ok bool) {
				defer func() { ok = recover() == nil }()
				reg.Register(name, pass, health.CheckOptions{})
				return
			}()
			if !registered {
				return
			}
			mux := http.NewServeMux()
			mux.Handle("GET /readyz/{name}", reg.Handler(health.Ready))
			rec := get(mux, "/readyz/"+name)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"`+name+`":`) {
				t.Errorf("Register(%q) accepted, but GET /readyz/%s: %d %q, Location %q",
					name, name, rec.Code, rec.Body, rec.Header().Get("Location"))
			}
		})
	}
}

// Kubernetes collects ?exclude names in a set and lists the unmatched ones
// sorted, each once: "no matches for \"a\",\"b\"".
func TestUnknownExcludeNamesListedOnceSortedAsKubernetes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		reg.Register("db", pass, health.CheckOptions{})
		rec := get(reg.Handler(health.Ready), "/readyz?verbose&exclude=zz&exclude=db&exclude=aa&exclude=zz&exclude=db")
		want := "[+]db excluded: ok\n[+]shutdown ok\n" +
			`warn: some health checks cannot be excluded: no matches for "aa","zz"` + "\n" +
			"readyz check passed\n"
		if got := rec.Body.String(); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
		rec = get(reg.Handler(health.Ready), "/readyz?exclude=zz&exclude=zz")
		if got, want := rec.Body.String(), `"notes":["some health checks cannot be excluded: no matches for \"zz\""]`; !strings.Contains(got, want) {
			t.Errorf("JSON %s, want %s", got, want)
		}
	})
}
