package pricing_test

import (
	"errors"
	"math"
	"testing"

	"github.com/ridehail/dispatch/pricing"
)

func TestParseAmount(t *testing.T) {
	ok := []struct {
		in, cur string
		want    int64
	}{
		{"19.99", "USD", 1999},
		{"4.56", "USD", 456}, // 4.56*100 is 455.99999999999994 as a float
		{"0.29", "USD", 29},  // 0.29*100 is 28.999999999999996 as a float
		{"1.15", "EUR", 115},
		{"5", "USD", 500},
		{"0", "USD", 0},
		{"0.00", "USD", 0},
		{"0.01", "USD", 1},
		{"0.1", "USD", 10},
		{"2.500", "USD", 250}, // extra zero decimals are exact
		{"007.50", "USD", 750},
		{"500", "JPY", 500},
		{"500.0", "JPY", 500},
		{"1.234", "KWD", 1234},
		{"1.5", "KWD", 1500},
		{"0.0001", "CLF", 1},
		{"92233720368547758.07", "USD", math.MaxInt64},
		{"9223372036854775807", "JPY", math.MaxInt64},
	}
	for _, tc := range ok {
		got, err := pricing.ParseAmount(tc.in, tc.cur)
		if err != nil || got != tc.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", tc.in, tc.cur, got, err, tc.want)
		}
	}

	bad := []struct {
		in, cur string
		want    error
	}{
		{"1.999", "USD", pricing.ErrInvalidAmount},
		{"1.001", "USD", pricing.ErrInvalidAmount},
		{"-1", "USD", pricing.ErrInvalidAmount},
		{"-0", "USD", pricing.ErrInvalidAmount},
		{"+1", "USD", pricing.ErrInvalidAmount},
		{"abc", "USD", pricing.ErrInvalidAmount},
		{"1e3", "USD", pricing.ErrInvalidAmount},
		{"1E3", "USD", pricing.ErrInvalidAmount},
		{"0x10", "USD", pricing.ErrInvalidAmount},
		{"NaN", "USD", pricing.ErrInvalidAmount},
		{"Inf", "USD", pricing.ErrInvalidAmount},
		{"", "USD", pricing.ErrInvalidAmount},
		{".5", "USD", pricing.ErrInvalidAmount},
		{"5.", "USD", pricing.ErrInvalidAmount},
		{".", "USD", pricing.ErrInvalidAmount},
		{"1.2.3", "USD", pricing.ErrInvalidAmount},
		{" 1", "USD", pricing.ErrInvalidAmount},
		{"1 ", "USD", pricing.ErrInvalidAmount},
		{"1,000", "USD", pricing.ErrInvalidAmount},
		{"1_000", "USD", pricing.ErrInvalidAmount},
		{"١", "USD", pricing.ErrInvalidAmount}, // Arabic-Indic digit one
		{"1.5", "JPY", pricing.ErrInvalidAmount},
		{"1.0001", "KWD", pricing.ErrInvalidAmount},
		{"92233720368547758.08", "USD", pricing.ErrInvalidAmount},
		{"9223372036854775808", "JPY", pricing.ErrInvalidAmount},
		{"99999999999999999999999999", "USD", pricing.ErrInvalidAmount},
		{"1", "usd", pricing.ErrInvalidCurrency},
		{"1", "US", pricing.ErrInvalidCurrency},
		{"1", "USDT", pricing.ErrInvalidCurrency},
		{"1", "", pricing.ErrInvalidCurrency},
		{"1", "XAU", pricing.ErrInvalidCurrency},
	}
	for _, tc := range bad {
		got, err := pricing.ParseAmount(tc.in, tc.cur)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseAmount(%q, %q) = %d, %v; want error %v", tc.in, tc.cur, got, err, tc.want)
		}
	}
}

func TestMinorDigits(t *testing.T) {
	for cur, want := range map[string]int{"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "KWD": 3, "CLF": 4} {
		if got, err := pricing.MinorDigits(cur); err != nil || got != want {
			t.Errorf("MinorDigits(%s) = %d, %v; want %d", cur, got, err, want)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		amount int64
		cur    string
		want   string
	}{
		{1250, "USD", "12.50"},
		{5, "USD", "0.05"},
		{0, "USD", "0.00"},
		{-5, "EUR", "-0.05"},
		{500, "JPY", "500"},
		{1234, "KWD", "1.234"},
		{math.MaxInt64, "USD", "92233720368547758.07"},
		{math.MinInt64, "USD", "-92233720368547758.08"},
	}
	for _, tc := range tests {
		if got := pricing.FormatAmount(tc.amount, tc.cur); got != tc.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tc.amount, tc.cur, got, tc.want)
		}
		if tc.amount >= 0 {
			if back, err := pricing.ParseAmount(tc.want, tc.cur); err != nil || back != tc.amount {
				t.Errorf("ParseAmount(FormatAmount(%d)) = %d, %v", tc.amount, back, err)
			}
		}
	}
	if got := (pricing.Money{Amount: 1999, Currency: "USD"}).String(); got != "19.99 USD" {
		t.Errorf("Money.String = %q", got)
	}
}
