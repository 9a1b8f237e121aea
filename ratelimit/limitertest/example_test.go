package limitertest_test

import (
	"fmt"
	"time"

	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

func ExampleClock() {
	clock := limitertest.NewClock()
	start := clock.Now()
	clock.Advance(1500 * time.Millisecond)
	fmt.Println(clock.Now().Sub(start))
	// Output: 1.5s
}
