package dispatch

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemLocker is the embedded Locker: per-key locks with a TTL, in process.
type MemLocker struct {
	mu    sync.Mutex
	locks map[string]*memLock
	seq   uint64
	now   func() time.Time
}

type memLock struct {
	l       *MemLocker
	key     string
	token   uint64
	expires time.Time
	done    chan struct{} // closed on release
}

var _ Locker = (*MemLocker)(nil)

// NewMemLocker returns a Locker whose TTLs run on now (time.Now when nil).
func NewMemLocker(now func() time.Time) *MemLocker {
	if now == nil {
		now = time.Now
	}
	return &MemLocker{locks: make(map[string]*memLock), now: now}
}

// Obtain implements Locker.
func (l *MemLocker) Obtain(ctx context.Context, key string, ttl time.Duration) (Lock, error) {
	for {
		l.mu.Lock()
		now := l.now()
		cur, held := l.locks[key]
		if !held || !now.Before(cur.expires) {
			l.seq++
			lk := &memLock{l: l, key: key, token: l.seq, expires: now.Add(ttl), done: make(chan struct{})}
			l.locks[key] = lk
			l.mu.Unlock()
			return lk, nil
		}
		wait := cur.expires.Sub(now)
		done := cur.done
		l.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock %s: %w: %w", key, ErrLockNotObtained, ctx.Err())
		}
		t.Stop()
	}
}

// Release implements Lock. Releasing a lock that expired and was taken by
// someone else does nothing.
func (lk *memLock) Release(context.Context) error {
	l := lk.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.locks[lk.key]; ok && cur.token == lk.token {
		delete(l.locks, lk.key)
		close(lk.done)
	}
	return nil
}
