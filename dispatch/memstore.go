package dispatch

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemStore is the embedded in-memory RideStore and DriverStore. It is safe
// for concurrent use.
type MemStore struct {
	mu      sync.Mutex
	rides   map[string]*Ride
	drivers map[string]*Driver
	idem    map[string]idemEntry
	now     func() time.Time
	idemTTL time.Duration

	// Finished rides are forgotten retention after their last change:
	// finished maps their ids to that time, and expiring queues them in
	// the order they finished (a ride changed again, e.g. rated, is
	// queued again; the stale entry is skipped).
	retention time.Duration
	finished  map[string]time.Time
	expiring  []expiringRide
}

type expiringRide struct {
	id      string
	expires time.Time
}

type idemEntry struct {
	rideID  string
	expires time.Time
}

var (
	_ RideStore   = (*MemStore)(nil)
	_ DriverStore = (*MemStore)(nil)
)

// DefaultIdempotencyTTL is how long an Idempotency-Key is remembered by
// default, and the shortest ride retention.
const DefaultIdempotencyTTL = 24 * time.Hour

// NewMemStore returns an empty store. Idempotency keys expire after
// idemTTL (24 h when zero) by the clock now (time.Now when nil). A
// finished ride (completed, cancelled, no_driver) is forgotten retention
// after its last change (24 h when zero; never sooner than idemTTL, so
// that a replayed request finds its ride); live rides are kept.
func NewMemStore(now func() time.Time, idemTTL, retention time.Duration) *MemStore {
	if now == nil {
		now = time.Now
	}
	if idemTTL <= 0 {
		idemTTL = DefaultIdempotencyTTL
	}
	if retention <= 0 {
		retention = DefaultIdempotencyTTL
	}
	return &MemStore{
		rides:     make(map[string]*Ride),
		drivers:   make(map[string]*Driver),
		idem:      make(map[string]idemEntry),
		now:       now,
		idemTTL:   idemTTL,
		retention: max(retention, idemTTL),
		finished:  make(map[string]time.Time),
	}
}

// rideLocked returns ride id unless it is absent or expired (then it is
// deleted).
func (s *MemStore) rideLocked(id string, now time.Time) (*Ride, bool) {
	r, ok := s.rides[id]
	if !ok {
		return nil, false
	}
	if exp, ok := s.finished[id]; ok && !now.Before(exp) {
		delete(s.rides, id)
		delete(s.finished, id)
		return nil, false
	}
	return r, true
}

// expireLocked forgets the finished rides whose retention has passed.
func (s *MemStore) expireLocked(now time.Time) {
	n := 0
	for _, e := range s.expiring {
		if now.Before(e.expires) {
			break
		}
		n++
		if exp, ok := s.finished[e.id]; ok && !now.Before(exp) {
			delete(s.rides, e.id)
			delete(s.finished, e.id)
		}
	}
	if n > 0 {
		s.expiring = append(s.expiring[:0], s.expiring[n:]...)
	}
}

// CreateRide implements RideStore.
func (s *MemStore) CreateRide(_ context.Context, r *Ride, idemKey string) (*Ride, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	if idemKey != "" {
		if e, ok := s.idem[idemKey]; ok && now.Before(e.expires) {
			if existing, ok := s.rideLocked(e.rideID, now); ok {
				return existing.Clone(), false, nil
			}
		}
	}
	if _, ok := s.rides[r.ID]; ok {
		return nil, false, fmt.Errorf("create ride %s: %w", r.ID, ErrConflict)
	}
	if r.Version != 0 {
		return nil, false, fmt.Errorf("create ride %s: version must be 0: %w", r.ID, ErrConflict)
	}
	r.Version = 1
	s.rides[r.ID] = r.Clone()
	if idemKey != "" {
		s.idem[idemKey] = idemEntry{rideID: r.ID, expires: now.Add(s.idemTTL)}
		if len(s.idem)%1024 == 0 {
			s.purgeLocked(now)
		}
	}
	return r.Clone(), true, nil
}

func (s *MemStore) purgeLocked(now time.Time) {
	for k, e := range s.idem {
		if !now.Before(e.expires) {
			delete(s.idem, k)
		}
	}
}

// RideByKey implements RideStore.
func (s *MemStore) RideByKey(_ context.Context, idemKey string) (*Ride, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e, ok := s.idem[idemKey]; ok && now.Before(e.expires) {
		if r, ok := s.rideLocked(e.rideID, now); ok {
			return r.Clone(), nil
		}
	}
	return nil, fmt.Errorf("idempotency key: %w", ErrNotFound)
}

// Ride implements RideStore.
func (s *MemStore) Ride(_ context.Context, id string) (*Ride, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rideLocked(id, s.now())
	if !ok {
		return nil, fmt.Errorf("ride %q: %w", id, ErrNotFound)
	}
	return r.Clone(), nil
}

// UpdateRide implements RideStore.
func (s *MemStore) UpdateRide(_ context.Context, r *Ride) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	cur, ok := s.rideLocked(r.ID, now)
	if !ok {
		return fmt.Errorf("ride %q: %w", r.ID, ErrNotFound)
	}
	if cur.Version != r.Version {
		return fmt.Errorf("ride %q at version %d, stored %d: %w", r.ID, r.Version, cur.Version, ErrConflict)
	}
	r.Version++
	s.rides[r.ID] = r.Clone()
	if r.Status.Terminal() {
		exp := now.Add(s.retention)
		s.finished[r.ID] = exp
		s.expiring = append(s.expiring, expiringRide{id: r.ID, expires: exp})
	} else {
		delete(s.finished, r.ID)
	}
	return nil
}

// Driver implements DriverStore.
func (s *MemStore) Driver(_ context.Context, id string) (*Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.drivers[id]
	if !ok {
		return nil, fmt.Errorf("driver %q: %w", id, ErrNotFound)
	}
	return d.Clone(), nil
}

// UpdateDriver implements DriverStore.
func (s *MemStore) UpdateDriver(_ context.Context, d *Driver) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.drivers[d.ID]
	switch {
	case !ok && d.Version != 0:
		return fmt.Errorf("driver %q: %w", d.ID, ErrNotFound)
	case ok && cur.Version != d.Version:
		return fmt.Errorf("driver %q at version %d, stored %d: %w", d.ID, d.Version, cur.Version, ErrConflict)
	}
	d.Version++
	s.drivers[d.ID] = d.Clone()
	return nil
}
