package dispatch

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// MemScheduler is the embedded Scheduler: a min-heap of due times.
type MemScheduler struct {
	mu   sync.Mutex
	h    schedHeap
	byID map[string]*schedItem
}

type schedItem struct {
	key string
	at  time.Time
	idx int
}

type schedHeap []*schedItem

func (h schedHeap) Len() int           { return len(h) }
func (h schedHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h schedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *schedHeap) Push(x any)        { it := x.(*schedItem); it.idx = len(*h); *h = append(*h, it) }
func (h *schedHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

var _ Scheduler = (*MemScheduler)(nil)

// NewMemScheduler returns an empty scheduler.
func NewMemScheduler() *MemScheduler { return &MemScheduler{byID: make(map[string]*schedItem)} }

// Schedule implements Scheduler.
func (s *MemScheduler) Schedule(_ context.Context, key string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.byID[key]; ok {
		it.at = at
		heap.Fix(&s.h, it.idx)
		return nil
	}
	it := &schedItem{key: key, at: at}
	heap.Push(&s.h, it)
	s.byID[key] = it
	return nil
}

// Cancel implements Scheduler.
func (s *MemScheduler) Cancel(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.byID[key]; ok {
		heap.Remove(&s.h, it.idx)
		delete(s.byID, key)
	}
	return nil
}

// Due implements Scheduler.
func (s *MemScheduler) Due(_ context.Context, now time.Time, lease time.Duration, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for len(s.h) > 0 && len(keys) < limit && !s.h[0].at.After(now) {
		it := s.h[0]
		keys = append(keys, it.key)
		it.at = now.Add(lease)
		heap.Fix(&s.h, 0)
	}
	return keys, nil
}

// Next returns the earliest due time, for virtual-clock drivers.
func (s *MemScheduler) Next() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.h) == 0 {
		return time.Time{}, false
	}
	return s.h[0].at, true
}
