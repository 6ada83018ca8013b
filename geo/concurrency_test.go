package geo

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestConcurrentUse runs writers, removers, readers and a sweeper at once
// (meant for -race), checks every answer a reader gets is well-formed, and
// checks the final state exactly.
func TestConcurrentUse(t *testing.T) {
	const (
		writers   = 4
		perWriter = 200
		rounds    = 60
		fresh     = 1000 // writers' fixes are seen >= fresh; sweeps cut below
	)
	ix := newIndexGrid(12, 13) // coarse: many drivers per cell, many crossings
	area := Point{-16.8, 179.9}
	var wg sync.WaitGroup
	final := make([]map[string]Point, writers)
	for w := range writers {
		final[w] = map[string]Point{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			s := &scenario{rng: rng, g: ix.grid, area: area, span: 50000}
			for r := range rounds {
				for i := range perWriter / 10 {
					id := fmt.Sprintf("w%d-%03d", w, (r*7+i)%perWriter)
					if rng.IntN(20) == 0 {
						ix.Remove(id)
						delete(final[w], id)
						continue
					}
					p := s.point()
					if err := ix.Upsert(id, p, int64(fresh+r)); err != nil {
						t.Error(err)
						return
					}
					final[w][id] = p
				}
			}
		})
	}
	// Stale drivers keep appearing while a sweeper keeps removing them.
	wg.Go(func() {
		for i := range 2000 {
			_ = ix.Upsert(fmt.Sprintf("stale-%d", i%300), Point{area.Lat, -179.95}, int64(i%fresh))
		}
	})
	wg.Go(func() {
		for range 100 {
			for _, id := range ix.Sweep(fresh) {
				if id[0] != 's' {
					t.Errorf("Sweep removed fresh %q", id)
				}
			}
		}
	})
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			s := &scenario{rng: rng, g: ix.grid, area: area, span: 50000}
			buf := make([]Hit, 0, 64)
			for range 300 {
				q := s.query(nil)
				q.K = rng.IntN(20)
				buf = ix.Nearest(q, buf)
				checkWellFormed(t, q, buf)
				ix.Count(q.Center, q.Radius, q.SeenAfter)
				ix.Get("w0-001")
				ix.Len()
			}
		})
	}
	wg.Wait()

	ix.Sweep(fresh)
	checkInvariants(t, ix)
	want := 0
	for w := range writers {
		for id, p := range final[w] {
			want++
			if got, _, ok := ix.Get(id); !ok || got != p {
				t.Errorf("Get(%q) = %v %v, want %v", id, got, ok, p)
			}
		}
	}
	if ix.Len() != want {
		t.Errorf("Len = %d, want %d", ix.Len(), want)
	}
}

// checkWellFormed checks what can be checked of a result without knowing
// the index's state at the instant of the query.
func checkWellFormed(t *testing.T, q Query, hits []Hit) {
	if q.K > 0 && len(hits) > q.K {
		t.Errorf("%d hits for K=%d", len(hits), q.K)
	}
	for i, h := range hits {
		if d := Distance(q.Center, h.Point); d != h.Distance || (q.Radius > 0 && d > q.Radius) || h.Seen < q.SeenAfter {
			t.Errorf("bad hit %+v for %+v", h, q)
		}
		if i > 0 && hitCmp(hits[i-1], h) >= 0 {
			t.Errorf("hits out of order: %+v then %+v", hits[i-1], h)
		}
	}
}
