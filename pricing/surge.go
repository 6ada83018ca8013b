package pricing

import (
	"math"
	"sync"
	"time"

	"github.com/mmcloughlin/geohash"
	"github.com/ridehail/dispatch/geo"
)

// SupplyFunc reports how many drivers are available within radiusM metres of
// center. The engine installs it with Calculator.SetSupplyFunc.
type SupplyFunc func(center geo.Point, radiusM float64) int

// demandBuckets is the resolution of the sliding demand window: demand is
// counted in Window/demandBuckets slots, so the window edge is accurate to
// one slot (10 s for a 5 minute window).
const demandBuckets = 30

// surgeTracker keeps demand and the smoothed multiplier per geohash cell.
type surgeTracker struct {
	cfg      SurgeConfig
	bits     uint  // geohash precision in bits
	slot     int64 // bucket width in nanoseconds
	floorPct int64
	capPct   int64
	now      func() time.Time

	mu        sync.Mutex // guards cells and lastSweep
	cells     map[uint64]*surgeCell
	lastSweep time.Time
}

type surgeCell struct {
	// buckets[i] counts requests in slot epoch[i] (slot = unix ns / width).
	epoch  [demandBuckets]int64
	count  [demandBuckets]uint32
	smooth float64   // smoothed multiplier; meaningful once evaluated
	at     time.Time // time of the last smoothing step; zero before
}

func newSurgeTracker(cfg SurgeConfig, now func() time.Time) *surgeTracker {
	slot := int64(cfg.Window) / demandBuckets
	if slot < 1 {
		slot = 1
	}
	return &surgeTracker{
		cfg:      cfg,
		bits:     uint(cfg.CellPrecision) * 5,
		slot:     slot,
		floorPct: surgePercent(cfg.Floor),
		capPct:   surgePercent(cfg.Cap),
		now:      now,
		cells:    make(map[uint64]*surgeCell),
	}
}

// cellOf returns the surge cell holding p (a valid point).
func (s *surgeTracker) cellOf(p geo.Point) uint64 {
	lat, lon := p.Lat, p.Lon
	// The geohash encoder maps lat 90 and lon 180 outside the grid.
	if lat >= 90 {
		lat = math.Nextafter(90, 0)
	}
	if lon >= 180 {
		lon = -180
	}
	return geohash.EncodeIntWithPrecision(lat, lon, s.bits)
}

// cellArea returns the centre of cell and the radius of the circle around it
// that covers the whole cell.
func (s *surgeTracker) cellArea(cell uint64) (geo.Point, float64) {
	b := geohash.BoundingBoxIntWithPrecision(cell, s.bits)
	lat, lon := b.Center()
	c := geo.Point{Lat: lat, Lon: lon}
	return c, geo.Distance(c, geo.Point{Lat: b.MaxLat, Lon: b.MaxLng})
}

// record counts one request at p.
func (s *surgeTracker) record(p geo.Point) {
	cell := s.cellOf(p)
	now := s.now()
	slot := now.UnixNano() / s.slot
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cells[cell]
	if c == nil {
		// Smoothing starts from Floor when demand first appears.
		c = &surgeCell{smooth: s.cfg.Floor, at: now}
		s.cells[cell] = c
	}
	i := int(uint64(slot) % demandBuckets)
	if c.epoch[i] != slot {
		c.epoch[i], c.count[i] = slot, 0
	}
	if c.count[i] < math.MaxUint32 {
		c.count[i]++
	}
	s.sweepLocked(now)
}

// demandLocked sums the requests of c in the window ending at slot.
func (c *surgeCell) demandLocked(slot int64) int64 {
	var n int64
	for i := range c.epoch {
		if e := c.epoch[i]; e > slot-demandBuckets && e <= slot {
			n += int64(c.count[i])
		}
	}
	return n
}

// multiplier returns the current surge at p in percent. supply may be nil
// (no surge). It is called without s.mu held.
func (s *surgeTracker) multiplier(p geo.Point, supply SupplyFunc) int64 {
	if supply == nil {
		return s.floorPct
	}
	cell := s.cellOf(p)
	now := s.now()
	slot := now.UnixNano() / s.slot

	s.mu.Lock()
	var demand int64
	if c := s.cells[cell]; c != nil {
		demand = c.demandLocked(slot)
	}
	s.mu.Unlock()

	var avail int
	if demand > 0 {
		// The callback may take engine locks: never call it under s.mu.
		center, radius := s.cellArea(cell)
		avail = supply(center, radius)
	}
	raw := s.raw(demand, avail)

	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cells[cell]
	if c == nil {
		if raw <= s.cfg.Floor {
			return s.floorPct
		}
		c = &surgeCell{}
		s.cells[cell] = c
	}
	c.smooth = s.step(c, raw, now)
	c.at = now
	pct := s.quantise(c.smooth)
	s.sweepLocked(now)
	return pct
}

// raw is the unsmoothed multiplier for demand requests against avail
// drivers, clamped to [Floor, Cap].
func (s *surgeTracker) raw(demand int64, avail int) float64 {
	switch {
	case demand <= 0:
		return s.cfg.Floor
	case avail <= 0:
		return s.cfg.Cap
	}
	ratio := float64(demand) / float64(avail)
	m := 1 + s.cfg.Sensitivity*(ratio-1)
	return min(max(m, s.cfg.Floor), s.cfg.Cap)
}

// step advances the exponential moving average of c towards raw by the time
// elapsed since its last step. A cell starts at Floor.
func (s *surgeTracker) step(c *surgeCell, raw float64, now time.Time) float64 {
	if c.at.IsZero() {
		c.smooth, c.at = s.cfg.Floor, now
	}
	dt := now.Sub(c.at)
	if dt <= 0 {
		return c.smooth
	}
	keep := math.Exp2(-float64(dt) / float64(s.cfg.HalfLife))
	return raw + (c.smooth-raw)*keep
}

func (s *surgeTracker) quantise(m float64) int64 {
	pct := int64(math.Floor(m*100 + 0.5))
	return min(max(pct, s.floorPct), s.capPct)
}

// sweepLocked drops, at most once per window, the cells with no demand left
// in the window whose multiplier has decayed back to Floor, so memory follows
// the active area rather than every cell ever seen.
func (s *surgeTracker) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < s.cfg.Window {
		return
	}
	s.lastSweep = now
	slot := now.UnixNano() / s.slot
	for k, c := range s.cells {
		if c.demandLocked(slot) > 0 {
			continue
		}
		if c.at.IsZero() || s.quantise(s.step(c, s.cfg.Floor, now)) == s.floorPct {
			delete(s.cells, k)
		}
	}
}

// size returns the number of tracked cells (tests).
func (s *surgeTracker) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cells)
}
