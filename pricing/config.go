package pricing

import (
	"fmt"
	"math"
	"time"
)

// Rules are the fare rules of one region. Amounts are in minor units of
// Currency: PerKm per kilometre, PerMinute per minute.
type Rules struct {
	// Region names the region; letters, digits, '-', '_' and '.', at most 64
	// bytes (it travels in quotes and may key storage shards).
	Region     string
	Currency   string
	Base       int64
	PerKm      int64
	PerMinute  int64
	Minimum    int64
	BookingFee int64
	// Bounds selects the pickups the region prices; nil marks the default
	// region.
	Bounds *Box
}

// Box is a latitude/longitude rectangle, edges inclusive. MinLon > MaxLon
// describes a box crossing the antimeridian.
type Box struct {
	MinLat float64 `json:"min_lat"`
	MinLon float64 `json:"min_lon"`
	MaxLat float64 `json:"max_lat"`
	MaxLon float64 `json:"max_lon"`
}

// Contains reports whether (lat, lon) lies in b.
func (b Box) Contains(lat, lon float64) bool {
	if lat < b.MinLat || lat > b.MaxLat {
		return false
	}
	if b.MinLon <= b.MaxLon {
		return lon >= b.MinLon && lon <= b.MaxLon
	}
	return lon >= b.MinLon || lon <= b.MaxLon
}

// SurgeConfig tunes the surge multiplier. See the package documentation for
// the formula.
type SurgeConfig struct {
	// Window is how far back recorded demand counts (default 5m).
	Window time.Duration
	// HalfLife is the exponential smoothing half-life (default 1m): after
	// HalfLife the multiplier has moved half way to the raw value.
	HalfLife time.Duration
	// Floor and Cap bound the multiplier (defaults 1.0 and 3.0, at most 10).
	Floor, Cap float64
	// Sensitivity scales how fast the multiplier rises with the demand to
	// supply ratio (default 1: the multiplier equals the ratio).
	Sensitivity float64
	// CellPrecision is the geohash length of a surge cell (default 5, about
	// 4.9 km × 4.9 km at the equator).
	CellPrecision int
}

// Tolerance says when a quote stops binding.
type Tolerance struct {
	// FareRatio: the actual fare is charged when it exceeds the quoted fare ×
	// FareRatio (default 1.25).
	FareRatio float64
	// DistanceRatio: the actual fare is charged when the actual distance
	// exceeds the quoted distance × DistanceRatio (default 1.5).
	DistanceRatio float64
	// MatchRadiusM is how far, in metres, a ride's pickup and dropoff may be
	// from the quote's (default 50).
	MatchRadiusM float64
}

// Config configures a Calculator. Zero fields passed to NewCalculator take
// their defaults from DefaultConfig.
type Config struct {
	// Regions is ordered: the first region whose Bounds contain the pickup
	// prices the ride. Exactly one region has no Bounds: the default.
	Regions []Rules
	// DetourFactor turns great-circle distance into road distance (default 1.3).
	DetourFactor float64
	// AvgSpeedKmh is the average road speed for the duration estimate
	// (default 25).
	AvgSpeedKmh float64
	// QuoteTTL is how long a quote stays valid (default 5m).
	QuoteTTL  time.Duration
	Surge     SurgeConfig
	Tolerance Tolerance
}

// DefaultConfig returns the built-in configuration: one default region in USD
// with US-taxi-like rates ($2.50 base, $1.55/km, $0.35/min, $7.00 minimum,
// $2.00 booking fee), detour 1.3, 25 km/h, 5 minute quotes, surge 1.0-3.0 over
// a 5 minute window.
func DefaultConfig() Config {
	return Config{
		Regions: []Rules{{
			Region:     "default",
			Currency:   "USD",
			Base:       250,
			PerKm:      155,
			PerMinute:  35,
			Minimum:    700,
			BookingFee: 200,
		}},
		DetourFactor: 1.3,
		AvgSpeedKmh:  25,
		QuoteTTL:     5 * time.Minute,
		Surge: SurgeConfig{
			Window:        5 * time.Minute,
			HalfLife:      time.Minute,
			Floor:         1.0,
			Cap:           3.0,
			Sensitivity:   1.0,
			CellPrecision: 5,
		},
		Tolerance: Tolerance{
			FareRatio:     1.25,
			DistanceRatio: 1.5,
			MatchRadiusM:  50,
		},
	}
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Regions) == 0 {
		c.Regions = d.Regions
	}
	setF := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setF(&c.DetourFactor, d.DetourFactor)
	setF(&c.AvgSpeedKmh, d.AvgSpeedKmh)
	setD(&c.QuoteTTL, d.QuoteTTL)
	setD(&c.Surge.Window, d.Surge.Window)
	setD(&c.Surge.HalfLife, d.Surge.HalfLife)
	setF(&c.Surge.Floor, d.Surge.Floor)
	setF(&c.Surge.Cap, d.Surge.Cap)
	setF(&c.Surge.Sensitivity, d.Surge.Sensitivity)
	if c.Surge.CellPrecision == 0 {
		c.Surge.CellPrecision = d.Surge.CellPrecision
	}
	setF(&c.Tolerance.FareRatio, d.Tolerance.FareRatio)
	setF(&c.Tolerance.DistanceRatio, d.Tolerance.DistanceRatio)
	setF(&c.Tolerance.MatchRadiusM, d.Tolerance.MatchRadiusM)
	return c
}

// maxSurge bounds Cap: a multiplier above 10 is a config mistake.
const maxSurge = 10.0

// Validate checks c as it is (no defaults applied). Errors wrap
// ErrInvalidConfig and name the field with its JSON name.
func (c Config) Validate() error {
	if len(c.Regions) == 0 {
		return fmt.Errorf("%w: regions: at least one region is required", ErrInvalidConfig)
	}
	seen := make(map[string]bool, len(c.Regions))
	defaults := 0
	for i, r := range c.Regions {
		if err := r.validate(); err != nil {
			return fmt.Errorf("%w: regions[%d].%w", ErrInvalidConfig, i, err)
		}
		if seen[r.Region] {
			return fmt.Errorf("%w: regions[%d].region: duplicate region %q", ErrInvalidConfig, i, r.Region)
		}
		seen[r.Region] = true
		if r.Bounds == nil {
			defaults++
		}
	}
	if defaults != 1 {
		return fmt.Errorf("%w: regions: exactly one region must have no bounds (the default), found %d", ErrInvalidConfig, defaults)
	}
	checks := []struct {
		name      string
		v, lo, hi float64
	}{
		{"detour_factor", c.DetourFactor, 1, 5},
		{"avg_speed_kmh", c.AvgSpeedKmh, 1, 300},
		{"surge.floor", c.Surge.Floor, 1, maxSurge},
		{"surge.cap", c.Surge.Cap, 1, maxSurge},
		{"surge.sensitivity", c.Surge.Sensitivity, 0.01, 100},
		{"tolerance.fare_ratio", c.Tolerance.FareRatio, 1, 100},
		{"tolerance.distance_ratio", c.Tolerance.DistanceRatio, 1, 100},
		{"tolerance.match_radius_m", c.Tolerance.MatchRadiusM, 0, 100000},
	}
	for _, k := range checks {
		if math.IsNaN(k.v) || k.v < k.lo || k.v > k.hi {
			return fmt.Errorf("%w: %s must be within [%v, %v], got %v", ErrInvalidConfig, k.name, k.lo, k.hi, k.v)
		}
	}
	if c.Surge.Floor > c.Surge.Cap {
		return fmt.Errorf("%w: surge.floor %v exceeds surge.cap %v", ErrInvalidConfig, c.Surge.Floor, c.Surge.Cap)
	}
	durs := []struct {
		name      string
		v, lo, hi time.Duration
	}{
		{"quote_ttl", c.QuoteTTL, time.Second, 24 * time.Hour},
		{"surge.window", c.Surge.Window, time.Second, 24 * time.Hour},
		{"surge.half_life", c.Surge.HalfLife, time.Millisecond, 24 * time.Hour},
	}
	for _, k := range durs {
		if k.v < k.lo || k.v > k.hi {
			return fmt.Errorf("%w: %s must be within [%v, %v], got %v", ErrInvalidConfig, k.name, k.lo, k.hi, k.v)
		}
	}
	if p := c.Surge.CellPrecision; p < 1 || p > 12 {
		return fmt.Errorf("%w: surge.cell_precision must be within [1, 12], got %d", ErrInvalidConfig, p)
	}
	return nil
}

func (r Rules) validate() error {
	if err := validRegionName(r.Region); err != nil {
		return fmt.Errorf("region: %w", err)
	}
	if _, err := MinorDigits(r.Currency); err != nil {
		return fmt.Errorf("currency: %w", err)
	}
	for _, a := range []struct {
		name string
		v    int64
	}{
		{"base", r.Base}, {"per_km", r.PerKm}, {"per_minute", r.PerMinute},
		{"minimum", r.Minimum}, {"booking_fee", r.BookingFee},
	} {
		if a.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", a.name, a.v)
		}
		// A ceiling far above any real fare keeps every sum of fees
		// comfortably inside int64.
		if a.v > maxRuleAmount {
			return fmt.Errorf("%s: %d minor units exceeds the limit %d", a.name, a.v, int64(maxRuleAmount))
		}
	}
	if r.Bounds != nil {
		if err := r.Bounds.validate(); err != nil {
			return fmt.Errorf("bounds: %w", err)
		}
	}
	return nil
}

// maxRuleAmount caps every amount of Rules (10^15 minor units).
const maxRuleAmount = 1e15

func validRegionName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("must be 1 to 64 bytes, got %d", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("%q: only letters, digits, '-', '_' and '.' are allowed", s)
		}
	}
	return nil
}

func (b Box) validate() error {
	for _, f := range []struct {
		name   string
		v, lim float64
	}{
		{"min_lat", b.MinLat, 90}, {"max_lat", b.MaxLat, 90},
		{"min_lon", b.MinLon, 180}, {"max_lon", b.MaxLon, 180},
	} {
		if math.IsNaN(f.v) || f.v < -f.lim || f.v > f.lim {
			return fmt.Errorf("%s must be within [%v, %v], got %v", f.name, -f.lim, f.lim, f.v)
		}
	}
	if b.MinLat > b.MaxLat {
		return fmt.Errorf("min_lat %v exceeds max_lat %v", b.MinLat, b.MaxLat)
	}
	return nil
}
