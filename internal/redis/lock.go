package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bsm/redislock"
	goredis "github.com/redis/go-redis/v9"

	"github.com/ridehail/dispatch/dispatch"
)

// Locker is the Redis dispatch.Locker, on github.com/bsm/redislock: SET NX
// PX with a random token; release deletes the key only while it still
// holds our token.
type Locker struct {
	c *redislock.Client
	k keys
}

var _ dispatch.Locker = (*Locker)(nil)

// NewLocker returns a locker for region on c.
func NewLocker(c goredis.UniversalClient, region string) (*Locker, error) {
	k, err := newKeys(region)
	if err != nil {
		return nil, err
	}
	return &Locker{c: redislock.New(c), k: k}, nil
}

// Retry backoff bounds while a lock is held by someone else.
const (
	lockBackoffMin = 5 * time.Millisecond
	lockBackoffMax = 10 * time.Millisecond
)

// jitterBackoff retries every lockBackoffMin..lockBackoffMax, at random so
// that waiters on different nodes do not retry in lockstep.
type jitterBackoff struct{}

func (jitterBackoff) NextBackoff() time.Duration {
	return lockBackoffMin + rand.N(lockBackoffMax-lockBackoffMin+1)
}

var lockOptions = &redislock.Options{RetryStrategy: jitterBackoff{}}

// Obtain implements dispatch.Locker. It retries until ctx ends; then it
// returns an error wrapping dispatch.ErrLockNotObtained (and the context's
// error). Redis errors are returned wrapped as they are.
func (l *Locker) Obtain(ctx context.Context, key string, ttl time.Duration) (dispatch.Lock, error) {
	ttl = max(ttl, time.Millisecond) // Redis's PX unit
	_, bounded := ctx.Deadline()
	for {
		lk, err := l.c.Obtain(ctx, l.k.lock(key), ttl, lockOptions)
		if err == nil {
			return redisLock{lk}, nil
		}
		// redislock ends its retries with the context's error (its own
		// deadline of one TTL when ctx has none), or ErrNotObtained when
		// its strategy gives up.
		notObtained := errors.Is(err, redislock.ErrNotObtained) ||
			errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("lock %s: %w: %w", key, dispatch.ErrLockNotObtained, ctx.Err())
		case notObtained && !bounded:
			continue // only redislock's one-TTL deadline ended: keep waiting
		case notObtained:
			return nil, fmt.Errorf("lock %s: %w: %w", key, dispatch.ErrLockNotObtained, err)
		default:
			return nil, fmt.Errorf("redis: lock %s: %w", key, err)
		}
	}
}

// redisLock is a held lock.
type redisLock struct{ lk *redislock.Lock }

// Release implements dispatch.Lock. A lock that expired (and may now be
// someone else's) is left alone and is not an error.
func (l redisLock) Release(ctx context.Context) error {
	err := l.lk.Release(ctx)
	if err == nil || errors.Is(err, redislock.ErrLockNotHeld) {
		return nil
	}
	return fmt.Errorf("redis: release lock %s: %w", l.lk.Key(), err)
}
