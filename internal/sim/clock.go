package sim

import (
	"context"
	"sync"
	"time"
)

// Clock maps real time onto simulated time: simulated time starts at Start
// when the clock starts and runs Speed times faster than the wall clock.
// It is safe for concurrent use.
type Clock struct {
	start time.Time
	speed float64
	mu    sync.Mutex
	real0 time.Time
}

// NewClock returns a clock at simulated start, running speed× real time,
// started now.
func NewClock(start time.Time, speed float64) *Clock {
	return &Clock{start: start, speed: speed, real0: time.Now()}
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	r0 := c.real0
	c.mu.Unlock()
	el := time.Since(r0)
	return c.start.Add(time.Duration(float64(el) * c.speed))
}

// Real converts a simulated duration to wall time.
func (c *Clock) Real(d time.Duration) time.Duration { return time.Duration(float64(d) / c.speed) }

// SleepUntil blocks until simulated time t or ctx's end; it reports false
// when ctx ended first.
func (c *Clock) SleepUntil(ctx context.Context, t time.Time) bool {
	d := c.Real(t.Sub(c.Now()))
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
