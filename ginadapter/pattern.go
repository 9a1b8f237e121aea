package ginadapter

import "github.com/gin-gonic/gin"

// Pattern returns gin middleware that records the matched route as the
// request's Pattern, in http.ServeMux's form ("GET /orders/:id"), so that
// net/http middleware wrapped around the Engine (otelx's span names and
// http.route, access logs) can name the route once the Engine returns.
// Requests that match no route keep an empty Pattern.
//
//	r.Use(ginadapter.Pattern())
//	handler := otelx.NewMiddleware().Handler(r)
func Pattern() gin.HandlerFunc {
	return func(c *gin.Context) {
		if p := c.FullPath(); p != "" {
			c.Request.Pattern = c.Request.Method + " " + p
		}
		c.Next()
	}
}
