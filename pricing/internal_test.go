package pricing

import (
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
)

func TestSurgeSweep(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := DefaultConfig().Surge
	s := newSurgeTracker(cfg, clock)
	supply := func(geo.Point, float64) int { return 0 }

	hot := geo.Point{Lat: 37.7955, Lon: -122.3937}
	// Demand in 100 distinct cells along a line of longitude.
	for i := 0; i < 100; i++ {
		s.record(geo.Point{Lat: float64(i) * 0.1, Lon: 10})
	}
	s.record(hot)
	now = now.Add(time.Second)
	if m := s.multiplier(hot, supply); m <= 100 {
		t.Fatalf("hot cell multiplier %d, want above 100", m)
	}
	if n := s.size(); n != 101 {
		t.Fatalf("tracking %d cells, want 101", n)
	}
	// Past the window the idle cells go at the next sweep; the hot cell
	// stays while it has demand.
	now = now.Add(cfg.Window)
	s.record(hot)
	if n := s.size(); n != 1 {
		t.Errorf("after the window: tracking %d cells, want 1", n)
	}
	// With no demand left its multiplier decays and it goes too.
	now = now.Add(cfg.Window + 20*cfg.HalfLife)
	if m := s.multiplier(hot, supply); m != 100 {
		t.Errorf("decayed multiplier %d, want 100", m)
	}
	s.record(geo.Point{Lat: -45, Lon: 100})
	if n := s.size(); n != 1 {
		t.Errorf("after decay: tracking %d cells, want 1 (the new one)", n)
	}
}

func TestSurgeClockBackwards(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSurgeTracker(DefaultConfig().Surge, func() time.Time { return now })
	p := geo.Point{Lat: 1, Lon: 1}
	s.record(p)
	now = now.Add(-time.Hour)
	if m := s.multiplier(p, func(geo.Point, float64) int { return 0 }); m != 100 {
		t.Errorf("multiplier %d after the clock went back, want 100", m)
	}
}
