package problem_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/backstop-go/backstop/problem"
)

// OutOfCredit is declared once and used for every occurrence.
var OutOfCredit = problem.Type{
	URI:    "https://example.com/probs/out-of-credit",
	Title:  "You do not have enough credit.",
	Status: http.StatusForbidden,
}

func ExampleWrite() {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/orders/42", nil)

	problem.Write(rec, req, problem.New(http.StatusNotFound, "There is no order 42."))

	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Body)
	// Output:
	// 404 application/problem+json
	// {"type":"about:blank","title":"Not Found","status":404,"detail":"There is no order 42."}
}

func ExampleType() {
	buy := problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return OutOfCredit.New("Your current balance is 30, but that costs 50.").
			With("balance", 30).
			With("accounts", []string{"/account/12345", "/account/67890"})
	})

	rec := httptest.NewRecorder()
	buy.ServeHTTP(rec, httptest.NewRequest("POST", "/buy", nil))
	fmt.Println(rec.Code)
	fmt.Println(rec.Body)

	// The error value tells its kind to Go code, too.
	err := fmt.Errorf("checkout: %w", OutOfCredit.New(""))
	fmt.Println(errors.Is(err, OutOfCredit))
	// Output:
	// 403
	// {"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","status":403,"detail":"Your current balance is 30, but that costs 50.","accounts":["/account/12345","/account/67890"],"balance":30}
	// true
}

func ExampleWriter_Write_hidesInternalErrors() {
	rec := httptest.NewRecorder()
	// The error text (and its cause) is logged, never sent.
	problem.Write(rec, httptest.NewRequest("GET", "/", nil), errors.New("pq: connection refused"))
	fmt.Println(rec.Code)
	fmt.Println(rec.Body)
	// Output:
	// 500
	// {"type":"about:blank","title":"Internal Server Error","status":500}
}

func ExampleParse() {
	srv := httptest.NewServer(problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return problem.New(http.StatusTooManyRequests, "Slow down.").WithHeader("Retry-After", "30")
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	p, err := problem.Parse(resp)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, p.Title, p.Detail, p.Header.Get("Retry-After"))
	// Output:
	// 429 Too Many Requests Slow down. 30
}
