package pricing_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

// fixedSupply is a supply callback returning a settable count.
type fixedSupply struct {
	n     atomic.Int64
	calls atomic.Int64
}

func (s *fixedSupply) fn(center geo.Point, radiusM float64) int {
	s.calls.Add(1)
	return int(s.n.Load())
}

// surgeCalc returns a calculator whose smoothing is as fast as halfLife.
func surgeCalc(t *testing.T, halfLife time.Duration) (*pricing.Calculator, *testClock, *fixedSupply) {
	t.Helper()
	cfg := pricing.DefaultConfig()
	cfg.Surge.HalfLife = halfLife
	clock := newTestClock()
	c := mustCalculator(t, cfg, clock)
	s := &fixedSupply{}
	c.SetSupplyFunc(s.fn)
	return c, clock, s
}

func mustSurge(t *testing.T, c *pricing.Calculator, p geo.Point) float64 {
	t.Helper()
	m, err := c.Surge(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func recordN(c *pricing.Calculator, p geo.Point, n int) {
	for i := 0; i < n; i++ {
		c.RecordDemand(p)
	}
}

func TestSurgeFollowsDemandOverSupply(t *testing.T) {
	c, clock, supply := surgeCalc(t, time.Millisecond) // no practical smoothing
	p := sfFerryBuilding
	supply.n.Store(10)
	if got := mustSurge(t, c, p); got != 1 {
		t.Errorf("no demand: surge %v, want 1", got)
	}
	steps := []struct {
		demand int
		want   float64
	}{
		{5, 1},     // 5 requests / 10 drivers: below 1, floored
		{10, 1.5},  // 15 / 10
		{10, 2.5},  // 25 / 10
		{100, 3.0}, // capped
	}
	for _, s := range steps {
		recordN(c, p, s.demand)
		clock.Advance(time.Second)
		if got := mustSurge(t, c, p); got != s.want {
			t.Errorf("after %d more requests: surge %v, want %v", s.demand, got, s.want)
		}
	}
	// A different cell (about 10 km away) is unaffected.
	if got := mustSurge(t, c, geo.Point{Lat: 37.70, Lon: -122.48}); got != 1 {
		t.Errorf("other cell: surge %v, want 1", got)
	}
	// Supply up, surge down.
	supply.n.Store(1000)
	clock.Advance(time.Second)
	if got := mustSurge(t, c, p); got != 1 {
		t.Errorf("ample supply: surge %v, want 1", got)
	}
	// Demand leaves the 5 minute window.
	supply.n.Store(10)
	clock.Advance(5 * time.Minute)
	if got := mustSurge(t, c, p); got != 1 {
		t.Errorf("after the window: surge %v, want 1", got)
	}
	// Estimates and quotes use the surge at pickup.
	recordN(c, p, 20)
	clock.Advance(time.Second)
	e, err := c.Estimate(p, sfMission)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := defaultRules().Fare(int64(e.DistanceM), int64(e.DurationS), 200)
	if e.Surge != 2 || e.Fare != want {
		t.Errorf("estimate = %+v, want surge 2 and fare %v", e, want)
	}
}

func TestSurgeZeroSupply(t *testing.T) {
	c, clock, supply := surgeCalc(t, time.Millisecond)
	p := nycTimesSquare
	supply.n.Store(0)
	if got := mustSurge(t, c, p); got != 1 {
		t.Errorf("no demand, no supply: surge %v, want 1", got)
	}
	c.RecordDemand(p)
	clock.Advance(time.Second)
	if got := mustSurge(t, c, p); got != 3 {
		t.Errorf("demand, no supply: surge %v, want the cap 3", got)
	}
	supply.n.Store(-5) // a broken callback counts as no supply
	clock.Advance(time.Second)
	if got := mustSurge(t, c, p); got != 3 {
		t.Errorf("negative supply: surge %v, want the cap 3", got)
	}
}

func TestSurgeSmoothing(t *testing.T) {
	c, clock, supply := surgeCalc(t, time.Minute)
	p := tokyoStation
	supply.n.Store(5)
	recordN(c, p, 10) // raw multiplier 2.0
	steps := []struct {
		advance time.Duration
		want    float64
	}{
		{0, 1},                   // a cell starts at the floor
		{time.Minute, 1.5},       // one half-life: half way to 2
		{time.Minute, 1.75},      // another: half the remaining way
		{30 * time.Second, 1.82}, // 2 - 0.25*2^-0.5 = 1.8232
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		if got := mustSurge(t, c, p); got != s.want {
			t.Errorf("step %d: surge %v, want %v", i, got, s.want)
		}
	}
	// Asking often does not speed smoothing up: it depends on time only.
	for i := 0; i < 100; i++ {
		if got := mustSurge(t, c, p); got != 1.82 {
			t.Fatalf("repeat %d: surge %v, want 1.82", i, got)
		}
	}
	// Demand gone: decays towards 1 with the same half-life.
	supply.n.Store(1000) // raw 1.0
	clock.Advance(time.Minute)
	if got := mustSurge(t, c, p); got != 1.41 { // 1 + 0.8232/2
		t.Errorf("decay: surge %v, want 1.41", got)
	}
}

func TestSurgeWithoutSupplyFunc(t *testing.T) {
	clock := newTestClock()
	c := mustCalculator(t, pricing.DefaultConfig(), clock)
	recordN(c, sfFerryBuilding, 100)
	clock.Advance(time.Hour)
	if got := mustSurge(t, c, sfFerryBuilding); got != 1 {
		t.Errorf("no supply func: surge %v, want 1", got)
	}
	s := &fixedSupply{}
	c.SetSupplyFunc(s.fn)
	c.SetSupplyFunc(nil)
	if got := mustSurge(t, c, sfFerryBuilding); got != 1 || s.calls.Load() != 0 {
		t.Errorf("removed supply func: surge %v, %d calls", got, s.calls.Load())
	}
}

func TestSupplyCallbackArea(t *testing.T) {
	clock := newTestClock()
	c := mustCalculator(t, pricing.DefaultConfig(), clock)
	var gotCenter geo.Point
	var gotRadius float64
	c.SetSupplyFunc(func(center geo.Point, radiusM float64) int {
		gotCenter, gotRadius = center, radiusM
		// Re-entering the calculator from the callback must not deadlock.
		c.RecordDemand(center)
		return 1
	})
	c.RecordDemand(sfFerryBuilding)
	if _, err := c.Surge(sfFerryBuilding); err != nil {
		t.Fatal(err)
	}
	// A precision-5 geohash cell at 37.8°N is about 3.9 km × 4.9 km: the
	// covering circle has a radius of about 3.1 km.
	if gotRadius < 2900 || gotRadius > 3300 {
		t.Errorf("radius = %v m, want about 3100", gotRadius)
	}
	if d := geo.Distance(gotCenter, sfFerryBuilding); d > gotRadius {
		t.Errorf("pickup is %v m from the cell centre, outside the radius %v", d, gotRadius)
	}
}
