package ginadapter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/ginadapter"
)

func TestPatternNamesTheRoute(t *testing.T) {
	r := gin.New()
	r.Use(ginadapter.Pattern())
	r.GET("/orders/:id", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	var got string
	outer := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.ServeHTTP(w, req)
		got = req.Pattern // read after the Engine returns, as otelx does
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
