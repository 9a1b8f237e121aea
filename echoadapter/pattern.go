package echoadapter

import "github.com/labstack/echo/v4"

// Pattern returns echo middleware that records the matched route as the
// request's Pattern, in http.ServeMux's form ("GET /orders/:id"), so that
// net/http middleware wrapped around the Echo (otelx's span names and
// http.route, access logs) can name the route once the Echo returns.
// Register it first with e.Use: echo runs Use middleware after routing.
// Requests that match no route keep an empty Pattern.
//
//	e.Use(echoadapter.Pattern())
//	handler := otelx.NewMiddleware().Handler(e)
func Pattern() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p := c.Path(); p != "" {
				r := c.Request()
				r.Pattern = r.Method + " " + p
			}
			return next(c)
		}
	}
}
