package ginadapter_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/ginadapter"
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

// A retry gets the first response back: what the handler wrote to
// c.Writer, and the problem for an error it aborted with.
func ExampleIdempotency() {
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	idem := idempotency.New(store, nil, idempotency.Options{})

	r := gin.New()
	r.Use(ginadapter.Problems(nil), gin.Recovery())
	orders := 0
	r.POST("/orders", ginadapter.Idempotency(idem), func(c *gin.Context) {
		var req struct{ Item string }
		if err := c.ShouldBindJSON(&req); err != nil {
			_ = c.AbortWithError(http.StatusBadRequest, err)
			return
		}
		if req.Item == "gold" {
			_ = c.AbortWithError(http.StatusUnprocessableEntity, errors.New("Gold is sold out.")).SetType(gin.ErrorTypePublic)
			return
		}
		orders++
		c.JSON(http.StatusCreated, gin.H{"id": orders})
	})

	send(r, http.MethodPost, "/orders", "7d1a5c0e-retry-me-twice", `{"item":"tea"}`)
	send(r, http.MethodPost, "/orders", "7d1a5c0e-retry-me-twice", `{"item":"tea"}`)
	send(r, http.MethodPost, "/orders", "0b5e2f4a-gold-is-gone", `{"item":"gold"}`)
	send(r, http.MethodPost, "/orders", "0b5e2f4a-gold-is-gone", `{"item":"gold"}`)
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

	r := gin.New()
	r.GET("/orders", ginadapter.RateLimit(limit), func(c *gin.Context) {
		c.String(http.StatusOK, "[]")
	})

	send(r, http.MethodGet, "/orders", "", "")
	send(r, http.MethodGet, "/orders", "", "")
	// Output:
	// 200  []
	// 429  {"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Request cannot be satisfied as assigned quota has been exceeded","status":429,"detail":"Too many requests; retry after the time given in Retry-After.","violated-policies":["minute"]}
}

// Errors, aborted statuses and gin's own 404 and 405 become problems.
func ExampleProblems() {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(ginadapter.Problems(nil))
	r.GET("/orders/:id", func(c *gin.Context) {
		if c.Param("id") != "1" {
			_ = c.AbortWithError(http.StatusNotFound, errors.New("There is no such order.")).SetType(gin.ErrorTypePublic)
			return
		}
		c.AbortWithStatus(http.StatusForbidden)
	})

	send(r, http.MethodGet, "/orders/2", "", "")
	send(r, http.MethodGet, "/orders/1", "", "")
	send(r, http.MethodDelete, "/orders/1", "", "")
	// Output:
	// 404  {"type":"about:blank","title":"Not Found","status":404,"detail":"There is no such order."}
	// 403  {"type":"about:blank","title":"Forbidden","status":403}
	// 405  {"type":"about:blank","title":"Method Not Allowed","status":405}
}

// Any net/http middleware runs through Wrap, here problem.Recover.
func ExampleWrap() {
	r := gin.New()
	r.Use(ginadapter.Wrap(problem.Recover))
	r.GET("/boom", func(c *gin.Context) { panic("boom") })

	send(r, http.MethodGet, "/boom", "", "")
	// Output:
	// 500  {"type":"about:blank","title":"Internal Server Error","status":500}
}

// A handler reads the claim it runs under from its gin.Context.
func ExampleValue() {
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	idem := idempotency.New(store, nil, idempotency.Options{})

	r := gin.New()
	r.POST("/payments", ginadapter.Idempotency(idem), func(c *gin.Context) {
		exec, ok := ginadapter.Value(c, idempotency.FromContext)
		c.String(http.StatusCreated, "claimed=%t fenced=%t", ok, exec.Fence > 0)
	})

	send(r, http.MethodPost, "/payments", "1f0c9a7e-pay-once-please", `{}`)
	// Output:
	// 201  claimed=true fenced=true
}

// Pattern names the route for net/http middleware around the Engine, such
// as otelx's, which reads r.Pattern once the Engine returns.
func ExamplePattern() {
	r := gin.New()
	r.Use(ginadapter.Pattern())
	r.GET("/orders/:id", func(c *gin.Context) { c.Status(http.StatusNoContent) })

	telemetry := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			next.ServeHTTP(w, req)
			fmt.Println("route:", req.Pattern)
		})
	}
	telemetry(r).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/orders/42", nil))
	// Output:
	// route: GET /orders/:id
}
