// Package pricing computes ride fares: per-region fare rules, surge per coarse
// cell, signed stateless quotes and the final fare of a completed trip.
//
// It is a pure domain leaf: it imports only the standard library, geo and the
// geohash grid. Time comes from an injected clock and supply from a callback
// the engine installs, so the same code runs on the server and on the
// simulator's virtual clock.
//
// # Money
//
// Money is an integer amount in the currency's minor units (cents for USD,
// yen for JPY) plus an ISO 4217 code. Floats never hold money: config amounts
// are parsed exactly from decimal strings (ParseAmount), and every rate stays
// in minor units.
//
// # How a fare is computed
//
// Distance and duration are measurements, not money: they are first quantised
// to whole metres and whole seconds (these are the figures reported in
// estimates and quotes, so anyone can recompute the fare from them). Then,
// with exact integer arithmetic (math/big, no intermediate rounding):
//
//	subtotal = (Base + PerKm × metres/1000 + PerMinute × seconds/60) × surge%/100
//	fare     = round_half_up(subtotal)          // the only rounding, on the total
//	fare     = max(fare, Minimum)               // the minimum fare applies to the surged fare
//	fare     = fare + BookingFee                // the booking fee is never surged nor absorbed by the minimum
//
// The surge multiplier is a quantity with two decimals, applied as an integer
// percentage (1.35 -> 135).
//
// # Regions
//
// Config.Regions is an ordered list. A pickup is priced by the first region
// whose Bounds contain it; the single region without Bounds is the default and
// prices everything else.
//
// # Surge
//
// Demand is the number of ride requests recorded (RecordDemand) in a geohash
// cell over a sliding window; supply is the number of available drivers the
// engine reports for the same cell through the supply callback. The raw
// multiplier 1 + Sensitivity × (demand/supply − 1) is clamped to
// [Floor, Cap] (zero supply with demand means Cap), smoothed per cell with a
// time-based exponential moving average and quantised to two decimals.
// Without a supply callback there is no surge.
//
// # Quotes
//
// Quotes are stateless so any node of a cluster can verify them:
// quote_id = base64url(payload) + "." + base64url(HMAC-SHA256(key, payload)),
// where the payload is JSON holding pickup, dropoff, fare, currency, surge,
// distance, duration, expiry and region, and key is derived from the
// configured secret for this purpose only. A quote may be presented any number
// of times until it expires; it is a price promise, not a payment token.
//
// # Final fare
//
// A ride booked on a valid quote pays the quoted fare unless the actual trip
// deviates beyond Config.Tolerance: the fare computed from the actual trip
// (same region and surge) exceeds the quote × FareRatio, or the actual
// distance exceeds the quoted distance × DistanceRatio. Then, and for rides
// booked without a quote, the fare computed from the actual trip with the
// surge captured at booking is charged.
//
// # Concurrency
//
// A Calculator is safe for concurrent use by multiple goroutines. The supply
// callback is called without any pricing lock held, so it may take the
// engine's own locks.
package pricing
