package validation_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/problem/validation"
)

type Item struct {
	SKU      string `json:"sku" validate:"required"`
	Quantity int    `json:"quantity" validate:"min=1"`
}

type CreateOrder struct {
	Email string `json:"email" validate:"required,email"`
	Items []Item `json:"items" validate:"required,min=1,dive"`
}

// post sends body to h and prints the response the client gets.
func post(h http.Handler, body string) {
	r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	var out bytes.Buffer
	if json.Indent(&out, w.Body.Bytes(), "", "  ") == nil {
		fmt.Println(out.String())
	}
}

func ExampleValidator_Decode() {
	v, err := validation.New(validation.Options{})
	if err != nil {
		panic(err)
	}
	h := problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var req CreateOrder
		if err := v.Decode(r, &req); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})

	post(h, `{"email":"not-an-email","items":[{"sku":"A1","quantity":0},{"quantity":2}]}`)
	// Output:
	// 422 application/problem+json
	// {
	//   "type": "https://pkg.go.dev/github.com/backstop-go/backstop/problem/validation#ErrInvalid",
	//   "title": "Invalid request content",
	//   "status": 422,
	//   "detail": "The request content has 3 errors.",
	//   "errors": [
	//     {
	//       "pointer": "#/email",
	//       "detail": "must be a valid email address",
	//       "rule": "email"
	//     },
	//     {
	//       "pointer": "#/items/0/quantity",
	//       "detail": "must be 1 or greater",
	//       "rule": "min",
	//       "param": "1"
	//     },
	//     {
	//       "pointer": "#/items/1/sku",
	//       "detail": "is required",
	//       "rule": "required"
	//     }
	//   ]
	// }
}

// Values of the wrong JSON type and members the struct does not know are
// reported in the same shape, before validation runs.
func ExampleValidator_Decode_wrongType() {
	v, err := validation.New(validation.Options{})
	if err != nil {
		panic(err)
	}
	h := problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var req CreateOrder
		return v.Decode(r, &req)
	})

	post(h, `{"email":"a@example.com","items":[{"sku":"A1","quantity":"two"}]}`)
	post(h, `{"email":"a@example.com","items":[{"sku":"A1","quantity":1}],"coupon":"FREE"}`)
	// Output:
	// 422 application/problem+json
	// {
	//   "type": "https://pkg.go.dev/github.com/backstop-go/backstop/problem/validation#ErrInvalid",
	//   "title": "Invalid request content",
	//   "status": 422,
	//   "detail": "The request content has 1 error.",
	//   "errors": [
	//     {
	//       "pointer": "#/items/0/quantity",
	//       "detail": "must be an integer",
	//       "rule": "type"
	//     }
	//   ]
	// }
	// 422 application/problem+json
	// {
	//   "type": "https://pkg.go.dev/github.com/backstop-go/backstop/problem/validation#ErrInvalid",
	//   "title": "Invalid request content",
	//   "status": 422,
	//   "detail": "The request content has 1 error.",
	//   "errors": [
	//     {
	//       "pointer": "#/coupon",
	//       "detail": "is not a known member",
	//       "rule": "unknown"
	//     }
	//   ]
	// }
}

// Checks that need the database report in the same shape as validation.
func ExampleInvalid() {
	err := validation.Invalid(validation.Violation{
		Pointer: validation.Pointer("items", "3", "sku"),
		Detail:  "is not in the catalogue",
		Rule:    "sku_exists",
	})
	fmt.Println(err)
	fmt.Println(validation.Violations(err)[0].Pointer)
	// Output:
	// 422 Invalid request content: The request content has 1 error.
	// #/items/3/sku
}

func ExamplePointer() {
	fmt.Println(validation.Pointer())
	fmt.Println(validation.Pointer("items", "0", "quantity"))
	fmt.Println(validation.Pointer("a/b", "m~n", "größe"))
	// Output:
	// #
	// #/items/0/quantity
	// #/a~1b/m~0n/gr%C3%B6%C3%9Fe
}
