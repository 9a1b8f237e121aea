package logtest_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/backstop-go/backstop/internal/logtest"
)

// Goroutines log into the buffer while the test reads it.
func Example() {
	var buf logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { logger.Warn("store failed") })
	}
	wg.Wait()
	fmt.Println(strings.Count(buf.String(), `level=WARN msg="store failed"`))
	// Output: 3
}
