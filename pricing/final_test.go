package pricing_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/ridehail/dispatch/pricing"
)

func TestFinalFareQuoted(t *testing.T) {
	c := mustCalculator(t, pricing.DefaultConfig(), newTestClock())
	usd := func(a int64) pricing.Money { return pricing.Money{Amount: a, Currency: "USD"} }
	// A quote for 10 km and 24 min: $2.50 + $15.50 + $8.40 + $2.00 = $28.40.
	// Its fare tolerance is $28.40 × 1.25 = $35.50, its distance tolerance
	// 15 km.
	quoted := pricing.Booking{Region: "default", Fare: usd(2840), Surge: 1, DistanceM: 10000, DurationS: 1440, Quoted: true}
	tests := []struct {
		name         string
		b            pricing.Booking
		dist, dur    float64
		fare, actual int64
		honoured     bool
	}{
		{"as quoted", quoted, 10000, 1440, 2840, 2840, true},
		{"shorter trip still pays the quote", quoted, 6000, 900, 2840, 250 + 930 + 525 + 200, true},
		{"longer within tolerance", quoted, 12000, 2000, 2840, 250 + 1860 + 1167 + 200, true}, // 1166.67 -> once: 3276.67 -> 3277
		{"distance at the tolerance", quoted, 15000, 0, 2840, 250 + 2325 + 200, true},
		{"distance beyond the tolerance pays actual even if cheaper", quoted, 15001, 0, 250 + 2325 + 200, 250 + 2325 + 200, false},
		{"fare exactly at the tolerance", withDist(quoted, 100000), 20000, 0, 2840, 3550, true},
		{"fare beyond the tolerance", withDist(quoted, 100000), 20007, 0, 3551, 3551, false}, // 3101.085 -> 3101
		{"quantised to whole metres", quoted, 9999.5, 1439.6, 2840, 2840, true},
		{"unquoted pays actual", withQuoted(quoted, false), 6000, 900, 1905, 1905, false},
		{"unquoted keeps booking surge", pricing.Booking{Region: "default", Fare: usd(1), Surge: 1.5, DistanceM: 1}, 10000, 1440, 3960 + 200, 3960 + 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.FinalFare(tc.b, tc.dist, tc.dur)
			if err != nil {
				t.Fatal(err)
			}
			if s.Fare != usd(tc.fare) || s.Actual != usd(tc.actual) || s.QuoteHonoured != tc.honoured {
				t.Errorf("FinalFare = %+v; want fare %d, actual %d, honoured %v", s, tc.fare, tc.actual, tc.honoured)
			}
			if s.DistanceM != math.Round(tc.dist) || s.DurationS != math.Round(tc.dur) {
				t.Errorf("figures = %v m, %v s", s.DistanceM, s.DurationS)
			}
		})
	}
}

func withDist(b pricing.Booking, d float64) pricing.Booking { b.DistanceM = d; return b }
func withQuoted(b pricing.Booking, q bool) pricing.Booking  { b.Quoted = q; return b }

func TestFinalFareFromQuoteAndEstimate(t *testing.T) {
	c, clock, supply := surgeCalc(t, time.Millisecond)
	supply.n.Store(10)
	recordN(c, sfFerryBuilding, 15) // surge 1.5
	clock.Advance(time.Second)
	q := mustQuote(t, c, sfFerryBuilding, sfMission)
	if q.Surge != 1.5 {
		t.Fatalf("surge = %v, want 1.5", q.Surge)
	}
	v, err := c.VerifyQuote(q.ID, sfFerryBuilding, sfMission)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.FinalFare(v.Booking(), v.DistanceM, v.DurationS)
	if err != nil {
		t.Fatal(err)
	}
	if s.Fare != q.Fare || s.Actual != q.Fare || !s.QuoteHonoured {
		t.Errorf("trip as quoted: %+v, want the quoted %v", s, q.Fare)
	}
	// The same trip booked on an estimate pays the actual trip at the
	// surge captured at booking, even after surge has gone.
	e := q.Estimate()
	supply.n.Store(1000)
	s, err = c.FinalFare(e.Booking(), 2*e.DistanceM, e.DurationS)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := defaultRules().Fare(int64(2*e.DistanceM), int64(e.DurationS), 150)
	if s.Fare != want || s.QuoteHonoured {
		t.Errorf("estimate booking: %+v, want %v", s, want)
	}
}

func TestFinalFareErrors(t *testing.T) {
	c := mustCalculator(t, loadTestdata(t), newTestClock())
	ok := pricing.Booking{Region: "sf", Fare: pricing.Money{Amount: 1000, Currency: "USD"}, Surge: 1, DistanceM: 1000, Quoted: true}
	tests := []struct {
		name      string
		b         pricing.Booking
		dist, dur float64
		want      error
	}{
		{"NaN distance", ok, math.NaN(), 0, pricing.ErrInvalidTrip},
		{"negative distance", ok, -1, 0, pricing.ErrInvalidTrip},
		{"infinite duration", ok, 1, math.Inf(1), pricing.ErrInvalidTrip},
		{"absurd distance", ok, 1e12, 0, pricing.ErrInvalidTrip},
		{"surge below 1", withSurge(ok, 0.5), 1, 1, pricing.ErrInvalidTrip},
		{"surge NaN", withSurge(ok, math.NaN()), 1, 1, pricing.ErrInvalidTrip},
		{"surge huge", withSurge(ok, 1e300), 1, 1, pricing.ErrInvalidTrip},
		{"negative booked fare", pricing.Booking{Region: "sf", Fare: pricing.Money{Amount: -1, Currency: "USD"}, Surge: 1}, 1, 1, pricing.ErrInvalidTrip},
		{"NaN booked distance", withDist(ok, math.NaN()), 1, 1, pricing.ErrInvalidTrip},
		{"unknown region", pricing.Booking{Region: "atlantis", Surge: 1}, 1, 1, pricing.ErrUnknownRegion},
		{"currency changed", pricing.Booking{Region: "tokyo", Fare: pricing.Money{Amount: 1000, Currency: "USD"}, Surge: 1, Quoted: true}, 1, 1, pricing.ErrUnknownRegion},
	}
	for _, tc := range tests {
		if _, err := c.FinalFare(tc.b, tc.dist, tc.dur); !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func withSurge(b pricing.Booking, s float64) pricing.Booking { b.Surge = s; return b }
