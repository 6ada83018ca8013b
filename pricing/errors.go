package pricing

import "errors"

// ErrInvalidAmount is wrapped by errors about a money amount that cannot be
// represented exactly in minor units (bad syntax, too many decimals, negative,
// overflow).
var ErrInvalidAmount = errors.New("invalid amount")

// ErrInvalidCurrency is wrapped by errors about a currency code that is not an
// ISO 4217 code with minor units.
var ErrInvalidCurrency = errors.New("invalid currency")

// ErrInvalidConfig is wrapped by every configuration error; the message names
// the offending field.
var ErrInvalidConfig = errors.New("invalid pricing config")

// ErrQuoteInvalid means a quote id is malformed, was not issued with this
// secret, or was tampered with.
var ErrQuoteInvalid = errors.New("invalid quote")

// ErrQuoteExpired means a genuine quote is past its expiry.
var ErrQuoteExpired = errors.New("quote expired")

// ErrQuoteMismatch means a genuine, unexpired quote was issued for a different
// pickup or dropoff than the ride presents.
var ErrQuoteMismatch = errors.New("quote does not match ride")

// ErrUnknownRegion means a booking names a region the configuration does not
// have, or whose currency differs from the booking's.
var ErrUnknownRegion = errors.New("unknown pricing region")

// ErrInvalidTrip means trip figures are unusable: negative, NaN or infinite
// distance or duration, or a surge outside the configured range.
var ErrInvalidTrip = errors.New("invalid trip")

// ErrFareOverflow means a fare does not fit in an int64 amount of minor units.
var ErrFareOverflow = errors.New("fare overflows int64 minor units")
