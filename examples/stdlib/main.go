// Command stdlib is the reference orders service on Go's http.ServeMux,
// composing every Backstop package. See examples/README.md for the
// configuration and a curl walk-through.
//
//	go run ./examples/stdlib
//
// The routes and the order of the middleware are in [app.Routes]
// (examples/app/routes.go): Backstop's middleware mounts on a ServeMux as
// it is, and the benchmarks of the whole chain (bench) measure that very
// function.
package main

import (
	"os"

	"github.com/backstop-go/backstop/examples/app"
)

func main() {
	os.Exit(app.Main(app.Routes))
}
