package pricing_test

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/ridehail/dispatch/pricing"
)

func TestRulesFare(t *testing.T) {
	unit := pricing.Rules{Region: "unit", Currency: "USD", PerKm: 1, PerMinute: 1}
	tests := []struct {
		name        string
		r           pricing.Rules
		m, s, surge int64
		want        int64
	}{
		// Default rules: $2.50 + $1.55/km + $0.35/min, $7 minimum, $2 fee.
		{"plain", defaultRules(), 10000, 1440, 100, 250 + 1550 + 840 + 200},
		{"surge 1.5 on the subtotal, not the booking fee", defaultRules(), 10000, 1440, 150, 3960 + 200},
		{"minimum then fee", defaultRules(), 500, 72, 100, 700 + 200},
		{"minimum applies to the surged fare", defaultRules(), 1000, 60, 150, 700 + 200}, // (250+155+35)*1.5 = 660
		{"surged fare above minimum", defaultRules(), 1000, 120, 200, 950 + 200},         // (250+155+70)*2
		{"zero trip", defaultRules(), 0, 0, 100, 700 + 200},
		// One rounding on the total: 1.5¢ + 1.5¢ = 3¢, where rounding each
		// component half-up would give 2¢ + 2¢ = 4¢.
		{"round once 1.5+1.5", unit, 1500, 90, 100, 3},
		{"round once 0.5+0.5", unit, 500, 30, 100, 1},
		{"half up, not half even", unit, 2500, 0, 100, 3},
		{"half up at .5 exactly", unit, 500, 0, 100, 1},
		{"below half rounds down", unit, 1499, 0, 100, 1},
		{"surge then round once", pricing.Rules{Region: "b", Currency: "USD", Base: 333}, 0, 0, 115, 383}, // 382.95
		{"surge half up", pricing.Rules{Region: "b", Currency: "USD", Base: 5}, 0, 0, 110, 6},             // 5.5
		{"JPY", pricing.Rules{Region: "tokyo", Currency: "JPY", Base: 500, PerKm: 390, PerMinute: 63}, 1000, 120, 100, 1016},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.r.Fare(tc.m, tc.s, tc.surge)
			if err != nil {
				t.Fatal(err)
			}
			want := pricing.Money{Amount: tc.want, Currency: tc.r.Currency}
			if got != want {
				t.Errorf("Fare(%d m, %d s, %d%%) = %v, want %v", tc.m, tc.s, tc.surge, got, want)
			}
		})
	}
}

func TestRulesFareErrors(t *testing.T) {
	r := defaultRules()
	for _, tc := range []struct{ m, s, surge int64 }{{-1, 0, 100}, {0, -1, 100}, {0, 0, 0}, {0, 0, -100}} {
		if _, err := r.Fare(tc.m, tc.s, tc.surge); !errors.Is(err, pricing.ErrInvalidTrip) {
			t.Errorf("Fare(%v) error = %v, want ErrInvalidTrip", tc, err)
		}
	}
	huge := pricing.Rules{Region: "x", Currency: "USD", PerKm: 1e15}
	if _, err := huge.Fare(1e9, 0, 1000); !errors.Is(err, pricing.ErrFareOverflow) {
		t.Errorf("huge fare error = %v, want ErrFareOverflow", err)
	}
	fee := pricing.Rules{Region: "x", Currency: "USD", Base: math.MaxInt64 / 60000, BookingFee: math.MaxInt64}
	if _, err := fee.Fare(0, 0, 100); !errors.Is(err, pricing.ErrFareOverflow) {
		t.Errorf("fee overflow error = %v, want ErrFareOverflow", err)
	}
}

// TestRulesFareOracle checks Fare against an independent big.Rat
// computation of the documented formula on random trips.
func TestRulesFareOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		r := pricing.Rules{
			Region: "r", Currency: "USD",
			Base: rng.Int64N(1000), PerKm: rng.Int64N(500), PerMinute: rng.Int64N(200),
			Minimum: rng.Int64N(1500), BookingFee: rng.Int64N(400),
		}
		m, s, pct := rng.Int64N(200000), rng.Int64N(20000), 100+rng.Int64N(201)
		got, err := r.Fare(m, s, pct)
		if err != nil {
			t.Fatal(err)
		}
		sub := new(big.Rat).SetInt64(r.Base)
		sub.Add(sub, big.NewRat(r.PerKm*m, 1000))
		sub.Add(sub, big.NewRat(r.PerMinute*s, 60))
		sub.Mul(sub, big.NewRat(pct, 100))
		sub.Add(sub, big.NewRat(1, 2)) // half-up for non-negative values: floor(x + 1/2)
		fare := new(big.Int).Quo(sub.Num(), sub.Denom()).Int64()
		want := max(fare, r.Minimum) + r.BookingFee
		if got.Amount != want {
			t.Fatalf("%+v Fare(%d, %d, %d) = %d, want %d", r, m, s, pct, got.Amount, want)
		}
	}
}
