package headercodec_test

import (
	"fmt"
	"net/http"

	"github.com/backstop-go/backstop/idempotency/internal/headercodec"
)

// A header the handler suppressed (set to nil) survives the round trip as
// a name with no values, so a replay suppresses it too.
func Example() {
	b := headercodec.Encode(http.Header{"Content-Type": nil, "Location": {"/orders/42"}})
	h, err := headercodec.Decode(string(b)) // Redis hands back a string, PostgreSQL bytes
	if err != nil {
		panic(err)
	}
	vs, present := h["Content-Type"]
	fmt.Println(present, len(vs), h.Get("Location"))
	// Output: true 0 /orders/42
}
