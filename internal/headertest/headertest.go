// Package headertest checks that a handler's responses do not share header
// value slices (see internal/headerval).
package headertest

import (
	"net/http"
	"sync"
)

// RewriteConcurrently calls serve from four goroutines, 50 times each, and
// rewrites every value of every header it returns in place, as middleware
// that owns a response's header may. A handler whose responses share value
// slices then shows "mine" in a later response, and races under -race.
func RewriteConcurrently(serve func() http.Header) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				for _, v := range serve() {
					for i := range v {
						v[i] = "mine"
					}
				}
			}
		}()
	}
	wg.Wait()
}
