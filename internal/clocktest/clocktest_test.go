package clocktest_test

import (
	"testing"
	"time"

	"github.com/backstop-go/backstop/internal/clocktest"
)

func TestClock(t *testing.T) {
	c := clocktest.New()
	if !c.Now().Equal(clocktest.Start) {
		t.Fatalf("Now = %v, want %v", c.Now(), clocktest.Start)
	}
	c.Advance(90 * time.Second)
	if got := c.Now().Sub(clocktest.Start); got != 90*time.Second {
		t.Errorf("after Advance: %v", got)
	}
	at := time.Date(2030, 5, 6, 7, 8, 9, 10, time.UTC)
	c.Set(at)
	if !c.Now().Equal(at) {
		t.Errorf("after Set: %v", c.Now())
	}
}
