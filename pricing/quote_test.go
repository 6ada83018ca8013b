package pricing_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

func mustQuote(t *testing.T, c *pricing.Calculator, pickup, dropoff geo.Point) pricing.Quote {
	t.Helper()
	q, err := c.Quote(pickup, dropoff)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestQuoteRoundTrip(t *testing.T) {
	clock := newTestClock()
	c := mustCalculator(t, loadTestdata(t), clock)
	q := mustQuote(t, c, sfFerryBuilding, sfMission)

	e, err := c.Estimate(sfFerryBuilding, sfMission)
	if err != nil {
		t.Fatal(err)
	}
	if q.Estimate() != e {
		t.Errorf("quote %+v does not carry the estimate %+v", q.Estimate(), e)
	}
	if want := clock.Now().Add(5 * time.Minute).UnixMilli(); q.ExpiresAt != want {
		t.Errorf("ExpiresAt = %d, want %d", q.ExpiresAt, want)
	}

	got, err := c.VerifyQuote(q.ID, sfFerryBuilding, sfMission)
	if err != nil {
		t.Fatal(err)
	}
	if got != q {
		t.Errorf("VerifyQuote = %+v, want %+v", got, q)
	}

	// Another node with the same secret and config verifies it too.
	other := mustCalculator(t, loadTestdata(t), clock)
	if _, err := other.VerifyQuote(q.ID, sfFerryBuilding, sfMission); err != nil {
		t.Errorf("other node: %v", err)
	}
	// A node with another secret does not.
	stranger, err := pricing.NewCalculator(loadTestdata(t), []byte("another secret of 32 bytes......"), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.VerifyQuote(q.ID, sfFerryBuilding, sfMission); !errors.Is(err, pricing.ErrQuoteInvalid) {
		t.Errorf("other secret: error = %v, want ErrQuoteInvalid", err)
	}

	// The wire form is the documented contract and hides the internals.
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"quote_id", "fare", "surge", "distance_m", "duration_s", "expires_at"} {
		if _, ok := wire[k]; !ok {
			t.Errorf("wire form %s lacks %q", b, k)
		}
	}
	if len(wire) != 6 {
		t.Errorf("wire form %s has extra keys", b)
	}
}

func TestVerifyQuoteExpiry(t *testing.T) {
	clock := newTestClock()
	c := mustCalculator(t, pricing.DefaultConfig(), clock)
	q := mustQuote(t, c, sfFerryBuilding, sfMission)
	clock.Advance(5*time.Minute - time.Millisecond)
	if _, err := c.VerifyQuote(q.ID, sfFerryBuilding, sfMission); err != nil {
		t.Fatalf("1 ms before expiry: %v", err)
	}
	clock.Advance(time.Millisecond)
	if _, err := c.VerifyQuote(q.ID, sfFerryBuilding, sfMission); !errors.Is(err, pricing.ErrQuoteExpired) {
		t.Fatalf("at expiry: error = %v, want ErrQuoteExpired", err)
	}
	// An expired and mismatched quote reports expiry; a tampered one reports
	// tampering whatever else is wrong with it.
	if _, err := c.VerifyQuote(q.ID, london, london); !errors.Is(err, pricing.ErrQuoteExpired) {
		t.Errorf("expired and mismatched: error = %v, want ErrQuoteExpired", err)
	}
	if _, err := c.VerifyQuote(q.ID+"A", sfFerryBuilding, sfMission); !errors.Is(err, pricing.ErrQuoteInvalid) {
		t.Errorf("expired and tampered: error = %v, want ErrQuoteInvalid", err)
	}
}

func TestVerifyQuoteMismatch(t *testing.T) {
	c := mustCalculator(t, pricing.DefaultConfig(), newTestClock())
	q := mustQuote(t, c, sfFerryBuilding, sfMission)
	// About 30 m north: within the 50 m tolerance.
	near := func(p geo.Point, dLat float64) geo.Point { return geo.Point{Lat: p.Lat + dLat, Lon: p.Lon} }
	if _, err := c.VerifyQuote(q.ID, near(sfFerryBuilding, 0.0003), near(sfMission, -0.0003)); err != nil {
		t.Errorf("30 m away: %v", err)
	}
	for _, tc := range []struct {
		name            string
		pickup, dropoff geo.Point
	}{
		{"pickup 100 m away", near(sfFerryBuilding, 0.0009), sfMission},
		{"dropoff 100 m away", sfFerryBuilding, near(sfMission, 0.0009)},
		{"swapped", sfMission, sfFerryBuilding},
	} {
		_, err := c.VerifyQuote(q.ID, tc.pickup, tc.dropoff)
		if !errors.Is(err, pricing.ErrQuoteMismatch) {
			t.Errorf("%s: error = %v, want ErrQuoteMismatch", tc.name, err)
		}
	}
}

func TestVerifyQuoteTampered(t *testing.T) {
	c := mustCalculator(t, pricing.DefaultConfig(), newTestClock())
	q := mustQuote(t, c, sfFerryBuilding, sfMission)
	p64, m64, _ := strings.Cut(q.ID, ".")
	enc := base64.RawURLEncoding
	payload, err := enc.DecodeString(p64)
	if err != nil {
		t.Fatal(err)
	}
	mac, err := enc.DecodeString(m64)
	if err != nil {
		t.Fatal(err)
	}
	fare := []byte(`"f":` + jsonInt(q.Fare.Amount))
	if !bytes.Contains(payload, fare) {
		t.Fatalf("payload %s does not hold %s", payload, fare)
	}
	cheaper := bytes.Replace(payload, fare, []byte(`"f":1`), 1)
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0x01
		return b
	}
	ids := map[string]string{
		"fare lowered":        enc.EncodeToString(cheaper) + "." + m64,
		"payload byte":        enc.EncodeToString(flip(payload, len(payload)/2)) + "." + m64,
		"payload first byte":  enc.EncodeToString(flip(payload, 0)) + "." + m64,
		"mac byte":            p64 + "." + enc.EncodeToString(flip(mac, 7)),
		"mac last byte":       p64 + "." + enc.EncodeToString(flip(mac, len(mac)-1)),
		"mac truncated":       p64 + "." + enc.EncodeToString(mac[:31]),
		"mac missing":         p64 + ".",
		"no mac":              p64,
		"extra part":          q.ID + ".x",
		"padded base64":       p64 + "." + base64.URLEncoding.EncodeToString(mac),
		"standard base64":     base64.RawStdEncoding.EncodeToString(payload) + "." + base64.RawStdEncoding.EncodeToString(mac),
		"empty":               "",
		"dot":                 ".",
		"garbage":             "not a quote",
		"too long":            strings.Repeat("A", 5000) + "." + m64,
		"payload swapped mac": enc.EncodeToString(mac) + "." + enc.EncodeToString(payload),
	}
	for name, id := range ids {
		if id == q.ID {
			continue // the standard alphabet may coincide with the URL one
		}
		if _, err := c.VerifyQuote(id, sfFerryBuilding, sfMission); !errors.Is(err, pricing.ErrQuoteInvalid) {
			t.Errorf("%s: error = %v, want ErrQuoteInvalid", name, err)
		}
	}
}

func jsonInt(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
