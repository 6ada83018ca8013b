package pricing_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ridehail/dispatch/pricing"
)

// testSecret is a fixed quote secret for tests.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testClock is a settable clock safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2024, 5, 17, 18, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustCalculator returns a Calculator for cfg on clock.
func mustCalculator(tb testing.TB, cfg pricing.Config, clock *testClock) *pricing.Calculator {
	tb.Helper()
	c, err := pricing.NewCalculator(cfg, testSecret, clock.Now)
	if err != nil {
		tb.Fatalf("NewCalculator: %v", err)
	}
	return c
}

// defaultRules are the rules of DefaultConfig's only region.
func defaultRules() pricing.Rules { return pricing.DefaultConfig().Regions[0] }
