package dispatch

import (
	"context"
	"fmt"
	"sync"

	"github.com/ridehail/dispatch/geo"
)

// MemLocator is the embedded Locator over a geo.Index. Availability is a
// sharded set consulted by the index filter during a search.
type MemLocator struct {
	idx    *geo.Index
	shards [64]availShard
}

type availShard struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

var _ Locator = (*MemLocator)(nil)

// NewMemLocator returns an empty locator.
func NewMemLocator() *MemLocator {
	l := &MemLocator{idx: geo.NewIndex()}
	for i := range l.shards {
		l.shards[i].m = make(map[string]struct{})
	}
	return l
}

// Index returns the underlying index (for metrics and surge supply).
func (l *MemLocator) Index() *geo.Index { return l.idx }

func (l *MemLocator) shard(id string) *availShard {
	// FNV-1a, inlined to stay allocation free.
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &l.shards[h%uint32(len(l.shards))]
}

// Update implements Locator.
func (l *MemLocator) Update(_ context.Context, id string, p geo.Point, seen int64) error {
	if err := checkIndexable(p); err != nil {
		return err
	}
	return l.idx.Upsert(id, p, seen)
}

// SetAvailable implements Locator.
func (l *MemLocator) SetAvailable(_ context.Context, id string, available bool) error {
	s := l.shard(id)
	s.mu.Lock()
	if available {
		s.m[id] = struct{}{}
	} else {
		delete(s.m, id)
	}
	s.mu.Unlock()
	return nil
}

// IsAvailable reports whether id is marked available.
func (l *MemLocator) IsAvailable(id string) bool {
	s := l.shard(id)
	s.mu.RLock()
	_, ok := s.m[id]
	s.mu.RUnlock()
	return ok
}

// Remove implements Locator.
func (l *MemLocator) Remove(_ context.Context, id string) error {
	l.idx.Remove(id)
	return nil
}

// Position implements Locator.
func (l *MemLocator) Position(_ context.Context, id string) (geo.Point, int64, bool, error) {
	p, seen, ok := l.idx.Get(id)
	return p, seen, ok, nil
}

// Nearest implements Locator.
func (l *MemLocator) Nearest(_ context.Context, center geo.Point, radius float64, k int, seenAfter int64, skip func(string) bool) ([]Candidate, error) {
	hits := l.idx.Nearest(geo.Query{
		Center:    center,
		Radius:    radius,
		K:         k,
		SeenAfter: seenAfter,
		Filter: func(id string) bool {
			return l.IsAvailable(id) && (skip == nil || !skip(id))
		},
	}, nil)
	out := make([]Candidate, len(hits))
	for i, h := range hits {
		out[i] = Candidate{ID: h.ID, Point: h.Point, Distance: h.Distance, Seen: h.Seen}
	}
	return out, nil
}

// Sweep implements Locator.
func (l *MemLocator) Sweep(_ context.Context, before int64) ([]string, error) {
	return l.idx.Sweep(before), nil
}

// MaxDriverLat is the largest |latitude| a driver position may have: the
// limit of Redis GEO (Web Mercator). Every backend enforces it, so the
// memory and Redis backends never disagree on who is indexed.
const MaxDriverLat = 85.05112878

func checkIndexable(p geo.Point) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Lat > MaxDriverLat || p.Lat < -MaxDriverLat {
		return fmt.Errorf("%w: lat must be within [-%v, %v] for a driver position, got %v", geo.ErrInvalidPoint, MaxDriverLat, MaxDriverLat, p.Lat)
	}
	return nil
}
