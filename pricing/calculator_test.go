package pricing_test

import (
	"errors"
	"math"
	"testing"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

var (
	sfFerryBuilding = geo.Point{Lat: 37.7955, Lon: -122.3937}
	sfMission       = geo.Point{Lat: 37.7599, Lon: -122.4148}
	nycTimesSquare  = geo.Point{Lat: 40.7580, Lon: -73.9855}
	tokyoStation    = geo.Point{Lat: 35.6812, Lon: 139.7671}
	london          = geo.Point{Lat: 51.5074, Lon: -0.1278}
)

func TestRegionSelection(t *testing.T) {
	c := mustCalculator(t, loadTestdata(t), newTestClock())
	for _, tc := range []struct {
		p              geo.Point
		region, curncy string
	}{
		{sfFerryBuilding, "sf", "USD"},
		{nycTimesSquare, "nyc", "USD"},
		{tokyoStation, "tokyo", "JPY"},
		{london, "default", "USD"},
	} {
		r, err := c.RulesFor(tc.p)
		if err != nil || r.Region != tc.region {
			t.Errorf("RulesFor(%v) = %q, %v; want %q", tc.p, r.Region, err, tc.region)
		}
		e, err := c.Estimate(tc.p, geo.Point{Lat: tc.p.Lat + 0.01, Lon: tc.p.Lon})
		if err != nil || e.Region != tc.region || e.Fare.Currency != tc.curncy {
			t.Errorf("Estimate from %v = %+v, %v; want region %q in %s", tc.p, e, err, tc.region, tc.curncy)
		}
	}

	// The first matching region wins when boxes overlap.
	cfg := pricing.DefaultConfig()
	outer := pricing.Rules{Region: "outer", Currency: "EUR", Bounds: &pricing.Box{MinLat: 0, MinLon: 0, MaxLat: 10, MaxLon: 10}}
	inner := pricing.Rules{Region: "inner", Currency: "EUR", Bounds: &pricing.Box{MinLat: 4, MinLon: 4, MaxLat: 6, MaxLon: 6}}
	cfg.Regions = []pricing.Rules{inner, outer, cfg.Regions[0]}
	c = mustCalculator(t, cfg, newTestClock())
	for p, want := range map[geo.Point]string{{Lat: 5, Lon: 5}: "inner", {Lat: 1, Lon: 1}: "outer", {Lat: -1, Lon: 1}: "default"} {
		if r, _ := c.RulesFor(p); r.Region != want {
			t.Errorf("RulesFor(%v) = %q, want %q", p, r.Region, want)
		}
	}
}

func TestEstimate(t *testing.T) {
	c := mustCalculator(t, pricing.DefaultConfig(), newTestClock())
	e, err := c.Estimate(sfFerryBuilding, sfMission)
	if err != nil {
		t.Fatal(err)
	}
	gc := geo.Distance(sfFerryBuilding, sfMission)
	wantDist := math.Round(gc * 1.3)
	wantDur := math.Round(wantDist / (25 / 3.6))
	if e.DistanceM != wantDist || e.DurationS != wantDur {
		t.Errorf("distance, duration = %v m, %v s; want %v m, %v s", e.DistanceM, e.DurationS, wantDist, wantDur)
	}
	// Independent arithmetic in float is fine for a check with a tolerance
	// of one minor unit; the exact value is covered by TestRulesFareOracle.
	approx := 250 + 155*wantDist/1000 + 35*wantDur/60 + 200
	if e.Fare.Currency != "USD" || math.Abs(float64(e.Fare.Amount)-approx) > 1 || e.Surge != 1 || e.Region != "default" {
		t.Errorf("estimate = %+v, want about %.2f USD cents at surge 1", e, approx)
	}
	want, _ := defaultRules().Fare(int64(wantDist), int64(wantDur), 100)
	if e.Fare != want {
		t.Errorf("fare = %v, want %v", e.Fare, want)
	}

	// Identical points: no distance, the minimum fare.
	e, err = c.Estimate(sfFerryBuilding, sfFerryBuilding)
	if err != nil || e.DistanceM != 0 || e.DurationS != 0 || e.Fare.Amount != 900 {
		t.Errorf("zero trip = %+v, %v; want 0 m, 0 s, 900", e, err)
	}
}

func TestInvalidPoints(t *testing.T) {
	c := mustCalculator(t, pricing.DefaultConfig(), newTestClock())
	good := sfFerryBuilding
	for _, bad := range []geo.Point{{Lat: 91, Lon: 0}, {Lat: 0, Lon: -181}, {Lat: math.NaN(), Lon: 0}, {Lat: 0, Lon: math.Inf(1)}} {
		if _, err := c.Estimate(bad, good); !errors.Is(err, geo.ErrInvalidPoint) {
			t.Errorf("Estimate(pickup %v) error = %v", bad, err)
		}
		if _, err := c.Estimate(good, bad); !errors.Is(err, geo.ErrInvalidPoint) {
			t.Errorf("Estimate(dropoff %v) error = %v", bad, err)
		}
		if _, err := c.Quote(bad, good); !errors.Is(err, geo.ErrInvalidPoint) {
			t.Errorf("Quote(pickup %v) error = %v", bad, err)
		}
		if _, err := c.VerifyQuote("x.y", good, bad); !errors.Is(err, geo.ErrInvalidPoint) {
			t.Errorf("VerifyQuote(dropoff %v) error = %v", bad, err)
		}
		if _, err := c.Surge(bad); !errors.Is(err, geo.ErrInvalidPoint) {
			t.Errorf("Surge(%v) error = %v", bad, err)
		}
		if _, err := c.RulesFor(bad); !errors.Is(err, geo.ErrInvalidPoint) {
			t.Errorf("RulesFor(%v) error = %v", bad, err)
		}
		c.RecordDemand(bad) // ignored, must not panic
	}
	// Edges of the grid are valid.
	for _, p := range []geo.Point{{Lat: 90, Lon: 180}, {Lat: -90, Lon: -180}} {
		c.RecordDemand(p)
		if _, err := c.Quote(p, good); err != nil {
			t.Errorf("Quote(%v): %v", p, err)
		}
	}
}
