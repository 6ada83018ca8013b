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
}

type idemEntry struct {
	rideID  string
	expires time.Time
}

var (
	_ RideStore   = (*MemStore)(nil)
	_ DriverStore = (*MemStore)(nil)
)

// NewMemStore returns an empty store. Idempotency keys expire after
// idemTTL (24 h when zero) by the clock now (time.Now when nil).
func NewMemStore(now func() time.Time, idemTTL time.Duration) *MemStore {
	if now == nil {
		now = time.Now
	}
	if idemTTL <= 0 {
		idemTTL = 24 * time.Hour
	}
	return &MemStore{
		rides:   make(map[string]*Ride),
		drivers: make(map[string]*Driver),
		idem:    make(map[string]idemEntry),
		now:     now,
		idemTTL: idemTTL,
	}
}

// CreateRide implements RideStore.
func (s *MemStore) CreateRide(_ context.Context, r *Ride, idemKey string) (*Ride, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if idemKey != "" {
		if e, ok := s.idem[idemKey]; ok && now.Before(e.expires) {
			if existing, ok := s.rides[e.rideID]; ok {
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
	if e, ok := s.idem[idemKey]; ok && s.now().Before(e.expires) {
		if r, ok := s.rides[e.rideID]; ok {
			return r.Clone(), nil
		}
	}
	return nil, fmt.Errorf("idempotency key: %w", ErrNotFound)
}

// Ride implements RideStore.
func (s *MemStore) Ride(_ context.Context, id string) (*Ride, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rides[id]
	if !ok {
		return nil, fmt.Errorf("ride %q: %w", id, ErrNotFound)
	}
	return r.Clone(), nil
}

// UpdateRide implements RideStore.
func (s *MemStore) UpdateRide(_ context.Context, r *Ride) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.rides[r.ID]
	if !ok {
		return fmt.Errorf("ride %q: %w", r.ID, ErrNotFound)
	}
	if cur.Version != r.Version {
		return fmt.Errorf("ride %q at version %d, stored %d: %w", r.ID, r.Version, cur.Version, ErrConflict)
	}
	r.Version++
	s.rides[r.ID] = r.Clone()
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
