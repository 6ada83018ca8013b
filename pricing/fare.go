package pricing

import (
	"fmt"
	"math"
	"math/big"
)

// Fare prices a trip of distanceM whole metres and durationS whole seconds at
// surgePct percent (100 = no surge) with r, exactly as the package
// documentation describes: the surged subtotal is computed with exact integer
// arithmetic and rounded half-up once, then the minimum fare applies, then the
// booking fee is added. Errors wrap ErrInvalidTrip (negative figures or a
// surge below 1%) or ErrFareOverflow.
func (r Rules) Fare(distanceM, durationS, surgePct int64) (Money, error) {
	if distanceM < 0 || durationS < 0 {
		return Money{}, fmt.Errorf("%w: distance %d m and duration %d s must not be negative", ErrInvalidTrip, distanceM, durationS)
	}
	if surgePct < 1 {
		return Money{}, fmt.Errorf("%w: surge %d%% must be positive", ErrInvalidTrip, surgePct)
	}
	// In units of 1/(1000 m/km × 60 s/min × 100 %) minor units:
	// (Base×60000 + PerKm×m×60 + PerMinute×s×1000) × surge% / 6,000,000.
	var num, t big.Int
	num.SetInt64(r.Base)
	num.Mul(&num, big.NewInt(60000))
	t.SetInt64(r.PerKm)
	t.Mul(&t, big.NewInt(distanceM))
	t.Mul(&t, big.NewInt(60))
	num.Add(&num, &t)
	t.SetInt64(r.PerMinute)
	t.Mul(&t, big.NewInt(durationS))
	t.Mul(&t, big.NewInt(1000))
	num.Add(&num, &t)
	num.Mul(&num, big.NewInt(surgePct))
	fare, err := roundHalfUp(&num, 6_000_000)
	if err != nil {
		return Money{}, err
	}
	fare = max(fare, r.Minimum)
	if fare > math.MaxInt64-r.BookingFee {
		return Money{}, fmt.Errorf("%w: fare %d plus booking fee %d", ErrFareOverflow, fare, r.BookingFee)
	}
	return Money{Amount: fare + r.BookingFee, Currency: r.Currency}, nil
}

// roundHalfUp returns num/den rounded half-up, for num >= 0 and den > 0.
func roundHalfUp(num *big.Int, den int64) (int64, error) {
	var q, rem big.Int
	d := big.NewInt(den)
	q.QuoRem(num, d, &rem)
	// Half-up: round away from zero when the remainder is at least half.
	if rem.Lsh(&rem, 1).Cmp(d) >= 0 {
		q.Add(&q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("%w: subtotal %s/%d", ErrFareOverflow, num, den)
	}
	return q.Int64(), nil
}

// exceedsRatio reports whether actual > quoted × bp/10000 exactly, for
// non-negative amounts.
func exceedsRatio(actual, quoted, bp int64) bool {
	var a, q big.Int
	a.SetInt64(actual)
	a.Mul(&a, big.NewInt(10000))
	q.SetInt64(quoted)
	q.Mul(&q, big.NewInt(bp))
	return a.Cmp(&q) > 0
}

// ratioBP converts a ratio such as 1.25 to basis points (12500).
func ratioBP(r float64) int64 { return int64(math.Round(r * 10000)) }

// surgePercent converts a two-decimal multiplier such as 1.35 to 135.
func surgePercent(m float64) int64 { return int64(math.Round(m * 100)) }

// quantise rounds a measured distance or duration to a whole unit.
func quantise(v float64) int64 { return int64(math.Round(v)) }
