package realtime

import (
	"math"
	"time"
)

// frameLimiter is a connection's token bucket for inbound frames: it
// refills at rate tokens per second up to burst, starts full, and every
// frame takes one token. Only the reader uses it, so it needs no lock;
// it is two words inline in the conn, where a rate.Limiter would be a
// separate 80-byte object with a mutex.
type frameLimiter struct {
	tokens float64
	last   time.Duration // monotonic time of the last refill, since the hub's epoch
}

func newFrameLimiter(burst int, now time.Duration) frameLimiter {
	return frameLimiter{tokens: float64(burst), last: now}
}

// allow takes a token at time now if one is left.
func (l *frameLimiter) allow(now time.Duration, rate float64, burst int) bool {
	if math.IsInf(rate, 1) {
		return true
	}
	if now > l.last {
		l.tokens = min(float64(burst), l.tokens+(now-l.last).Seconds()*rate)
		l.last = now
	}
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}
