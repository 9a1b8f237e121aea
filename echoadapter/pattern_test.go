package echoadapter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/echoadapter"
)

func TestPatternNamesTheRoute(t *testing.T) {
	e := echo.New()
	e.Use(echoadapter.Pattern())
	e.GET("/orders/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	var got string
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.ServeHTTP(w, r)
		got = r.Pattern // read after the Echo returns, as otelx does
	})
	for path, want := range map[string]string{
		"/orders/42":     "GET /orders/:id",
		"/no/such/route": "",
	} {
		got = "unset"
		outer.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
		if got != want {
			t.Errorf("%s: Pattern %q, want %q", path, got, want)
		}
	}
}
