package echoadapter_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/echoadapter"
	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/ratelimit"
)

// send serves one request and prints the status, the Idempotent-Replayed
// header and the body.
func send(h http.Handler, method, target, key, body string) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer alice")
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Idempotent-Replayed"), strings.TrimSpace(rec.Body.String()))
}

// A retry gets the first response back, also when the handler returned an
// error: the error is rendered inside the idempotency middleware.
func ExampleIdempotency() {
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	idem := idempotency.New(store, nil, idempotency.Options{})

	e := echo.New()
	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
	orders := 0
	e.POST("/orders", func(c echo.Context) error {
		var req struct{ Item string }
		if err := c.Bind(&req); err != nil {
			return err
		}
		if req.Item == "gold" {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, "Gold is sold out.")
		}
		orders++
		return c.JSON(http.StatusCreated, map[string]int{"id": orders})
	}, echoadapter.Idempotency(idem))

	send(e, http.MethodPost, "/orders", "7d1a5c0e-retry-me-twice", `{"item":"tea"}`)
	send(e, http.MethodPost, "/orders", "7d1a5c0e-retry-me-twice", `{"item":"tea"}`)
	send(e, http.MethodPost, "/orders", "0b5e2f4a-gold-is-gone", `{"item":"gold"}`)
	send(e, http.MethodPost, "/orders", "0b5e2f4a-gold-is-gone", `{"item":"gold"}`)
	// Output:
	// 201  {"id":1}
	// 201 true {"id":1}
	// 422  {"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"Gold is sold out."}
	// 422 true {"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"Gold is sold out."}
}

func ExampleRateLimit() {
	limiter, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("minute", 1)}, ratelimit.MemoryOptions{})
	if err != nil {
		panic(err)
	}
	limit := ratelimit.New(limiter, ratelimit.ClientIP(ratelimit.ClientIPOptions{}), ratelimit.Options{})

	e := echo.New()
	e.GET("/orders", func(c echo.Context) error {
		return c.String(http.StatusOK, "[]")
	}, echoadapter.RateLimit(limit))

	send(e, http.MethodGet, "/orders", "", "")
	send(e, http.MethodGet, "/orders", "", "")
	// Output:
	// 200  []
	// 429  {"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Request cannot be satisfied as assigned quota has been exceeded","status":429,"detail":"Too many requests; retry after the time given in Retry-After.","violated-policies":["minute"]}
}

// echo's own 404 and 405 stay 404 and 405, as problems; the 405 keeps the
// Allow header echo's router sets.
func ExampleErrorHandler() {
	e := echo.New()
	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
	e.POST("/orders", func(c echo.Context) error { return c.NoContent(http.StatusCreated) })

	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(method, "/orders", nil))
		fmt.Println(rec.Code, rec.Header().Get("Allow"), rec.Body.String())
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/carts", nil))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 405 OPTIONS, POST {"type":"about:blank","title":"Method Not Allowed","status":405}
	// 405 OPTIONS, POST {"type":"about:blank","title":"Method Not Allowed","status":405}
	// 404 {"type":"about:blank","title":"Not Found","status":404}
}

// Any net/http middleware runs through Wrap, here problem.Recover.
func ExampleWrap() {
	e := echo.New()
	e.Use(echoadapter.Wrap(problem.Recover))
	e.GET("/boom", func(c echo.Context) error { panic("boom") })

	send(e, http.MethodGet, "/boom", "", "")
	// Output:
	// 500  {"type":"about:blank","title":"Internal Server Error","status":500}
}

// A handler reads the claim it runs under from its echo.Context.
func ExampleValue() {
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	idem := idempotency.New(store, nil, idempotency.Options{})

	e := echo.New()
	e.POST("/payments", func(c echo.Context) error {
		exec, ok := echoadapter.Value(c, idempotency.FromContext)
		return c.String(http.StatusCreated, fmt.Sprintf("claimed=%t fenced=%t", ok, exec.Fence > 0))
	}, echoadapter.Idempotency(idem))

	send(e, http.MethodPost, "/payments", "1f0c9a7e-pay-once-please", `{}`)
	// Output:
	// 201  claimed=true fenced=true
}

// Pattern names the route for net/http middleware around the Echo, such as
// otelx's, which reads r.Pattern once the Echo returns.
func ExamplePattern() {
	e := echo.New()
	e.Use(echoadapter.Pattern())
	e.GET("/orders/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })

	telemetry := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			fmt.Println("route:", r.Pattern)
		})
	}
	telemetry(e).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/orders/42", nil))
	// Output:
	// route: GET /orders/:id
}
