package echoadapter

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Handler returns h as an echo handler that, unlike echo.WrapHandler,
// hands h echo's path parameters as the request's path values
// (r.PathValue), as http.ServeMux does for its wildcards. health's probes
// read the name of a single check that way:
//
//	e.GET("/readyz", echoadapter.Handler(reg.Handler(health.Ready)))
//	e.GET("/readyz/:name", echoadapter.Handler(reg.Handler(health.Ready)))
//
// h writes to c.Response(). It panics if h is nil.
func Handler(h http.Handler) echo.HandlerFunc {
	if h == nil {
		panic("echoadapter: Handler of a nil http.Handler")
	}
	return func(c echo.Context) error {
		r := c.Request()
		for i, name := range c.ParamNames() {
			if values := c.ParamValues(); i < len(values) {
				r.SetPathValue(name, values[i])
			}
		}
		h.ServeHTTP(c.Response(), r)
		return nil
	}
}
