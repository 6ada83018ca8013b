package pricing

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Money is an amount in the currency's minor units (cents for USD, yen for
// JPY) and an ISO 4217 currency code. It is the wire form of every price:
// {"amount": 1250, "currency": "USD"}.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// String formats m as a decimal amount and its currency, e.g. "12.50 USD".
func (m Money) String() string {
	return FormatAmount(m.Amount, m.Currency) + " " + m.Currency
}

// minorDigitsExceptions lists the ISO 4217 currencies whose minor unit is not
// two decimal digits (-1: no minor unit at all, e.g. precious metals and
// testing codes, which cannot price a ride). Every other well-formed code has
// two digits.
var minorDigitsExceptions = map[string]int{
	// Zero decimals.
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0,
	"KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0,
	"XAF": 0, "XOF": 0, "XPF": 0,
	// Three decimals.
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	// Four decimals.
	"CLF": 4, "UYW": 4,
	// No minor unit defined.
	"XAG": -1, "XAU": -1, "XBA": -1, "XBB": -1, "XBC": -1, "XBD": -1,
	"XDR": -1, "XPD": -1, "XPT": -1, "XSU": -1, "XTS": -1, "XUA": -1, "XXX": -1,
}

// MinorDigits returns the number of decimal digits of currency's minor unit
// (2 for USD and EUR, 0 for JPY, 3 for KWD). The code must be three upper-case
// ASCII letters; codes without a minor unit (XAU, XXX, ...) are rejected. The
// error wraps ErrInvalidCurrency.
func MinorDigits(currency string) (int, error) {
	if len(currency) != 3 {
		return 0, fmt.Errorf("%w: %q is not a 3-letter ISO 4217 code", ErrInvalidCurrency, currency)
	}
	for i := 0; i < 3; i++ {
		if c := currency[i]; c < 'A' || c > 'Z' {
			return 0, fmt.Errorf("%w: %q is not a 3-letter upper-case ISO 4217 code", ErrInvalidCurrency, currency)
		}
	}
	d, ok := minorDigitsExceptions[currency]
	if !ok {
		return 2, nil
	}
	if d < 0 {
		return 0, fmt.Errorf("%w: %s has no minor unit", ErrInvalidCurrency, currency)
	}
	return d, nil
}

// ParseAmount parses a non-negative decimal amount of currency into minor
// units, exactly: "19.99" USD is 1999, "5" USD is 500, "500" JPY is 500.
//
// The syntax is digits, optionally followed by a dot and digits. Signs,
// exponents, spaces, thousands separators and empty parts ("5.", ".5") are
// rejected, as is any amount that needs more decimals than the currency has
// ("1.999" USD, "1.5" JPY) or does not fit in an int64. Trailing zero
// decimals beyond the currency's precision are exact and accepted ("2.500"
// USD is 250). Errors wrap ErrInvalidAmount or ErrInvalidCurrency.
func ParseAmount(s string, currency string) (int64, error) {
	digits, err := MinorDigits(currency)
	if err != nil {
		return 0, err
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	switch {
	case s == "":
		return 0, fmt.Errorf("%w: empty", ErrInvalidAmount)
	case intPart == "":
		return 0, fmt.Errorf("%w: %q: missing digits before the decimal point", ErrInvalidAmount, s)
	case hasDot && frac == "":
		return 0, fmt.Errorf("%w: %q: missing digits after the decimal point", ErrInvalidAmount, s)
	}
	if !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("%w: %q: want a non-negative decimal like \"12.34\"", ErrInvalidAmount, s)
	}
	if len(frac) > digits {
		if strings.Trim(frac[digits:], "0") != "" {
			return 0, fmt.Errorf("%w: %q: %s allows at most %d decimal places", ErrInvalidAmount, s, currency, digits)
		}
		frac = frac[:digits]
	}
	var v int64
	add := func(c byte) bool {
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return false
		}
		v = v*10 + d
		return true
	}
	for i := 0; i < len(intPart); i++ {
		if !add(intPart[i]) {
			return 0, fmt.Errorf("%w: %q: overflows int64 minor units", ErrInvalidAmount, s)
		}
	}
	for i := 0; i < digits; i++ {
		c := byte('0')
		if i < len(frac) {
			c = frac[i]
		}
		if !add(c) {
			return 0, fmt.Errorf("%w: %q: overflows int64 minor units", ErrInvalidAmount, s)
		}
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount formats amount minor units of currency as a decimal string
// with exactly the currency's minor digits ("12.50" for 1250 USD, "500" for
// 500 JPY); ParseAmount reads it back. An invalid currency is formatted with
// two digits.
func FormatAmount(amount int64, currency string) string {
	digits, err := MinorDigits(currency)
	if err != nil {
		digits = 2
	}
	neg := amount < 0
	// Work in uint64 so that math.MinInt64 has a magnitude.
	u := uint64(amount)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if digits > 0 {
		if len(s) <= digits {
			s = strings.Repeat("0", digits-len(s)+1) + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
