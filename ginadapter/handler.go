package ginadapter

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Handler returns h as a gin handler that, unlike gin.WrapH, hands h gin's
// path parameters as the request's path values (r.PathValue), as
// http.ServeMux does for its wildcards. health's probes read the name of
// a single check that way:
//
//	r.GET("/readyz", ginadapter.Handler(reg.Handler(health.Ready)))
//	r.GET("/readyz/:name", ginadapter.Handler(reg.Handler(health.Ready)))
//
// h writes to c.Writer. It panics if h is nil.
func Handler(h http.Handler) gin.HandlerFunc {
	if h == nil {
		panic("ginadapter: Handler of a nil http.Handler")
	}
	return func(c *gin.Context) {
		r := c.Request
		for _, p := range c.Params {
			r.SetPathValue(p.Key, p.Value)
		}
		h.ServeHTTP(c.Writer, r)
	}
}
