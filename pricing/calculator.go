package pricing

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/ridehail/dispatch/geo"
)

// minSecretLen is the shortest quote secret NewCalculator accepts.
const minSecretLen = 16

// Calculator prices rides: estimates, signed quotes and final fares. It is
// safe for concurrent use.
type Calculator struct {
	cfg           Config
	now           func() time.Time
	surge         *surgeTracker
	signer        *quoteSigner
	supply        atomic.Pointer[SupplyFunc]
	fareBP        int64 // Tolerance.FareRatio in basis points
	byName        map[string]*Rules
	defaultRegion *Rules
}

// NewCalculator returns a Calculator for cfg, whose zero fields take the
// values of DefaultConfig. secret keys the quote signatures and must be at
// least 16 bytes (32 random bytes recommended); every node of a cluster
// needs the same secret. now is the clock (nil means time.Now). Errors wrap
// ErrInvalidConfig.
func NewCalculator(cfg Config, secret []byte, now func() time.Time) (*Calculator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("%w: quote secret must be at least %d bytes, got %d", ErrInvalidConfig, minSecretLen, len(secret))
	}
	if now == nil {
		now = time.Now
	}
	// Own the slice and the boxes so later edits by the caller cannot race.
	regions := make([]Rules, len(cfg.Regions))
	copy(regions, cfg.Regions)
	c := &Calculator{
		now:    now,
		surge:  newSurgeTracker(cfg.Surge, now),
		signer: newQuoteSigner(secret),
		fareBP: ratioBP(cfg.Tolerance.FareRatio),
		byName: make(map[string]*Rules, len(regions)),
	}
	for i := range regions {
		r := &regions[i]
		if r.Bounds != nil {
			b := *r.Bounds
			r.Bounds = &b
		} else {
			c.defaultRegion = r
		}
		c.byName[r.Region] = r
	}
	cfg.Regions = regions
	c.cfg = cfg
	return c, nil
}

// Config returns the effective configuration (defaults applied).
func (c *Calculator) Config() Config {
	cfg := c.cfg
	cfg.Regions = make([]Rules, len(c.cfg.Regions))
	for i, r := range c.cfg.Regions {
		if r.Bounds != nil {
			b := *r.Bounds
			r.Bounds = &b
		}
		cfg.Regions[i] = r
	}
	return cfg
}

// SetSupplyFunc installs the callback that reports available drivers around
// a point; nil removes it (and with it any surge). It may be called at any
// time, concurrently with pricing.
func (c *Calculator) SetSupplyFunc(f func(center geo.Point, radiusM float64) int) {
	if f == nil {
		c.supply.Store(nil)
		return
	}
	sf := SupplyFunc(f)
	c.supply.Store(&sf)
}

func (c *Calculator) supplyFunc() SupplyFunc {
	if p := c.supply.Load(); p != nil {
		return *p
	}
	return nil
}

// RecordDemand counts one ride request picked up at p towards the surge of
// its cell. Call it once per ride request, not per quote, so that a rider
// refreshing a quote does not raise their own price. Invalid points are
// ignored (such a request is refused anyway).
func (c *Calculator) RecordDemand(p geo.Point) {
	if p.Validate() != nil {
		return
	}
	c.surge.record(p)
}

// Surge returns the current surge multiplier at p (two decimals). The error
// wraps geo.ErrInvalidPoint.
func (c *Calculator) Surge(p geo.Point) (float64, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("surge: %w", err)
	}
	return float64(c.surge.multiplier(p, c.supplyFunc())) / 100, nil
}

// RulesFor returns the fare rules that price a ride picked up at p: the first
// region whose bounds contain p, else the default region. The error wraps
// geo.ErrInvalidPoint.
func (c *Calculator) RulesFor(p geo.Point) (Rules, error) {
	if err := p.Validate(); err != nil {
		return Rules{}, fmt.Errorf("rules: %w", err)
	}
	return *c.rulesFor(p), nil
}

func (c *Calculator) rulesFor(p geo.Point) *Rules {
	for i := range c.cfg.Regions {
		r := &c.cfg.Regions[i]
		if r.Bounds != nil && r.Bounds.Contains(p.Lat, p.Lon) {
			return r
		}
	}
	return c.defaultRegion
}

// Estimate is a price for a trip, not binding.
type Estimate struct {
	Region string `json:"region"`
	Fare   Money  `json:"fare"`
	// Surge is the multiplier applied, with two decimals (1.35).
	Surge float64 `json:"surge"`
	// DistanceM is the great-circle distance × DetourFactor, in whole metres.
	DistanceM float64 `json:"distance_m"`
	// DurationS is DistanceM at AvgSpeedKmh, in whole seconds.
	DurationS float64 `json:"duration_s"`
}

// Booking returns the pricing state of a ride booked on e without a quote:
// it will pay the fare of its actual trip at e's surge.
func (e Estimate) Booking() Booking {
	return Booking{Region: e.Region, Fare: e.Fare, Surge: e.Surge, DistanceM: e.DistanceM, DurationS: e.DurationS}
}

// Estimate prices a trip from pickup to dropoff at the current surge at
// pickup. Errors wrap geo.ErrInvalidPoint or ErrFareOverflow.
func (c *Calculator) Estimate(pickup, dropoff geo.Point) (Estimate, error) {
	if err := pickup.Validate(); err != nil {
		return Estimate{}, fmt.Errorf("estimate: pickup: %w", err)
	}
	if err := dropoff.Validate(); err != nil {
		return Estimate{}, fmt.Errorf("estimate: dropoff: %w", err)
	}
	r := c.rulesFor(pickup)
	pct := c.surge.multiplier(pickup, c.supplyFunc())
	dist := quantise(geo.Distance(pickup, dropoff) * c.cfg.DetourFactor)
	dur := quantise(float64(dist) * 3.6 / c.cfg.AvgSpeedKmh)
	fare, err := r.Fare(dist, dur, pct)
	if err != nil {
		return Estimate{}, fmt.Errorf("estimate: %w", err)
	}
	return Estimate{
		Region:    r.Region,
		Fare:      fare,
		Surge:     float64(pct) / 100,
		DistanceM: float64(dist),
		DurationS: float64(dur),
	}, nil
}

// Quote is a signed, expiring price promise. ID carries everything needed to
// verify it on any node that shares the secret.
type Quote struct {
	ID        string  `json:"quote_id"`
	Fare      Money   `json:"fare"`
	Surge     float64 `json:"surge"`
	DistanceM float64 `json:"distance_m"`
	DurationS float64 `json:"duration_s"`
	// ExpiresAt is the expiry in Unix milliseconds; the quote is invalid from
	// that instant on.
	ExpiresAt int64     `json:"expires_at"`
	Pickup    geo.Point `json:"-"`
	Dropoff   geo.Point `json:"-"`
	Region    string    `json:"-"`
}

// Estimate returns the estimate q promises.
func (q Quote) Estimate() Estimate {
	return Estimate{Region: q.Region, Fare: q.Fare, Surge: q.Surge, DistanceM: q.DistanceM, DurationS: q.DurationS}
}

// Booking returns the pricing state of a ride booked on the verified quote q.
func (q Quote) Booking() Booking {
	b := q.Estimate().Booking()
	b.Quoted = true
	return b
}

// Quote prices a trip like Estimate and signs the result; it expires after
// Config.QuoteTTL. Errors wrap geo.ErrInvalidPoint or ErrFareOverflow.
func (c *Calculator) Quote(pickup, dropoff geo.Point) (Quote, error) {
	e, err := c.Estimate(pickup, dropoff)
	if err != nil {
		return Quote{}, fmt.Errorf("quote: %w", err)
	}
	exp := c.now().Add(c.cfg.QuoteTTL).UnixMilli()
	id, err := c.signer.sign(quotePayload{
		V:         quoteVersion,
		Region:    e.Region,
		Pickup:    pickup,
		Dropoff:   dropoff,
		Fare:      e.Fare.Amount,
		Currency:  e.Fare.Currency,
		SurgePct:  surgePercent(e.Surge),
		DistanceM: int64(e.DistanceM),
		DurationS: int64(e.DurationS),
		ExpiresAt: exp,
	})
	if err != nil {
		return Quote{}, fmt.Errorf("quote: %w", err)
	}
	return Quote{
		ID:        id,
		Fare:      e.Fare,
		Surge:     e.Surge,
		DistanceM: e.DistanceM,
		DurationS: e.DurationS,
		ExpiresAt: exp,
		Pickup:    pickup,
		Dropoff:   dropoff,
		Region:    e.Region,
	}, nil
}

// VerifyQuote checks that id is a genuine quote (ErrQuoteInvalid otherwise),
// has not expired (ErrQuoteExpired) and was issued for this pickup and
// dropoff within Tolerance.MatchRadiusM (ErrQuoteMismatch), in that order,
// and returns it. Invalid ride points give an error wrapping
// geo.ErrInvalidPoint. A valid quote may be verified any number of times.
func (c *Calculator) VerifyQuote(id string, pickup, dropoff geo.Point) (Quote, error) {
	if err := pickup.Validate(); err != nil {
		return Quote{}, fmt.Errorf("verify quote: pickup: %w", err)
	}
	if err := dropoff.Validate(); err != nil {
		return Quote{}, fmt.Errorf("verify quote: dropoff: %w", err)
	}
	p, err := c.signer.open(id)
	if err != nil {
		return Quote{}, fmt.Errorf("verify quote: %w", err)
	}
	if now := c.now().UnixMilli(); now >= p.ExpiresAt {
		return Quote{}, fmt.Errorf("verify quote: %w: expired at %s", ErrQuoteExpired, time.UnixMilli(p.ExpiresAt).UTC().Format(time.RFC3339Nano))
	}
	tol := c.cfg.Tolerance.MatchRadiusM
	if d := geo.Distance(p.Pickup, pickup); d > tol {
		return Quote{}, fmt.Errorf("verify quote: %w: pickup is %.0f m from the quoted pickup (tolerance %.0f m)", ErrQuoteMismatch, d, tol)
	}
	if d := geo.Distance(p.Dropoff, dropoff); d > tol {
		return Quote{}, fmt.Errorf("verify quote: %w: dropoff is %.0f m from the quoted dropoff (tolerance %.0f m)", ErrQuoteMismatch, d, tol)
	}
	return Quote{
		ID:        id,
		Fare:      Money{Amount: p.Fare, Currency: p.Currency},
		Surge:     float64(p.SurgePct) / 100,
		DistanceM: float64(p.DistanceM),
		DurationS: float64(p.DurationS),
		ExpiresAt: p.ExpiresAt,
		Pickup:    p.Pickup,
		Dropoff:   p.Dropoff,
		Region:    p.Region,
	}, nil
}

// Booking is the pricing state a ride keeps from booking to completion:
// Quote.Booking for a ride booked on a verified quote, Estimate.Booking
// otherwise. It is plain data, safe to persist as JSON.
type Booking struct {
	Region    string  `json:"region"`
	Fare      Money   `json:"fare"`
	Surge     float64 `json:"surge"`
	DistanceM float64 `json:"distance_m"`
	DurationS float64 `json:"duration_s"`
	// Quoted says Fare is a binding quote rather than an estimate.
	Quoted bool `json:"quoted"`
}

// Settlement is the outcome of FinalFare.
type Settlement struct {
	// Fare is what the rider pays.
	Fare Money `json:"fare"`
	// Actual is the fare of the actual trip at the booking's surge.
	Actual Money `json:"actual"`
	// QuoteHonoured says Fare is the quoted fare.
	QuoteHonoured bool `json:"quote_honoured"`
	// DistanceM and DurationS are the actual trip figures used, whole units.
	DistanceM float64 `json:"distance_m"`
	DurationS float64 `json:"duration_s"`
}

// FinalFare settles a completed trip of actualDistanceM metres (the driven
// path, no detour factor) and actualDurationS seconds. The actual fare uses
// the booking's region rules and surge. A quoted booking pays its quoted fare
// unless the actual fare exceeds it × Tolerance.FareRatio or the actual
// distance exceeds the quoted distance × Tolerance.DistanceRatio; then, and
// for unquoted bookings, the actual fare is charged.
//
// Errors wrap ErrInvalidTrip (negative, NaN or infinite figures, surge out of
// range, negative booked fare), ErrUnknownRegion (region no longer
// configured, or a quoted booking whose region now uses another currency)
// or ErrFareOverflow.
func (c *Calculator) FinalFare(b Booking, actualDistanceM, actualDurationS float64) (Settlement, error) {
	for _, v := range []float64{actualDistanceM, actualDurationS} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > maxTripFigure {
			return Settlement{}, fmt.Errorf("final fare: %w: distance %v m, duration %v s", ErrInvalidTrip, actualDistanceM, actualDurationS)
		}
	}
	pct := surgePercent(b.Surge)
	if math.IsNaN(b.Surge) || pct < 100 || pct > maxSurge*100 {
		return Settlement{}, fmt.Errorf("final fare: %w: surge %v", ErrInvalidTrip, b.Surge)
	}
	if b.Fare.Amount < 0 || math.IsNaN(b.DistanceM) || b.DistanceM < 0 {
		return Settlement{}, fmt.Errorf("final fare: %w: booked fare %d, distance %v m", ErrInvalidTrip, b.Fare.Amount, b.DistanceM)
	}
	r, ok := c.byName[b.Region]
	if !ok {
		return Settlement{}, fmt.Errorf("final fare: %w: %q", ErrUnknownRegion, b.Region)
	}
	if b.Quoted && r.Currency != b.Fare.Currency {
		return Settlement{}, fmt.Errorf("final fare: %w: region %q is now priced in %s, booking in %s", ErrUnknownRegion, b.Region, r.Currency, b.Fare.Currency)
	}
	dist, dur := quantise(actualDistanceM), quantise(actualDurationS)
	actual, err := r.Fare(dist, dur, pct)
	if err != nil {
		return Settlement{}, fmt.Errorf("final fare: %w", err)
	}
	s := Settlement{Fare: actual, Actual: actual, DistanceM: float64(dist), DurationS: float64(dur)}
	if b.Quoted &&
		!exceedsRatio(actual.Amount, b.Fare.Amount, c.fareBP) &&
		!(float64(dist) > b.DistanceM*c.cfg.Tolerance.DistanceRatio) {
		s.Fare, s.QuoteHonoured = b.Fare, true
	}
	return s, nil
}

// maxTripFigure bounds actual distances (metres) and durations (seconds):
// 10^9 is 25 times round the Earth, or 31 years.
const maxTripFigure = 1e9
