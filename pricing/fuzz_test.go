package pricing

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
)

func FuzzLoadConfig(f *testing.F) {
	if b, err := os.ReadFile("../testdata/pricing.json"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `[]`, ``, `null`, `{"regions": null}`, `{"regions": []}`,
		`{"regions": [{"region": "d", "currency": "JPY", "base": "500", "per_km": "390", "per_minute": "63", "minimum": "500", "booking_fee": "0"}]}`,
		`{"regions": [{"region": "a", "currency": "USD", "base": "1.999"}]}`,
		`{"regions": [{"bounds": {"min_lat": 1e400}}]}`,
		`{"detour_factor": 1e309, "avg_speed_kmh": -0}`,
		`{"quote_ttl": "9999999999h"}`, `{"surge": {"window": "1ns", "cell_precision": -1}}`,
		`{"tolerance": {"fare_ratio": 1.00005}}`, `{} {}`, `{"a":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := LoadConfig(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		// Whatever loads must be usable.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
		c, err := NewCalculator(cfg, []byte("fuzz secret 0123456789"), nil)
		if err != nil {
			t.Fatalf("NewCalculator on a loaded config: %v", err)
		}
		if _, err := c.Quote(geo.Point{Lat: 37.79, Lon: -122.39}, geo.Point{Lat: 37.76, Lon: -122.41}); err != nil && !errors.Is(err, ErrFareOverflow) {
			t.Fatalf("Quote: %v", err)
		}
	})
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"19.99", "4.56", "5", "0", "1.999", "-1", "abc", "1e3", "92233720368547758.07", "92233720368547758.08", ".5", "5.", "2.500", "", "١"} {
		for _, cur := range []string{"USD", "JPY", "KWD", "usd", "XAU"} {
			f.Add(s, cur)
		}
	}
	f.Fuzz(func(t *testing.T, s, cur string) {
		v, err := ParseAmount(s, cur)
		if err != nil {
			if !errors.Is(err, ErrInvalidAmount) && !errors.Is(err, ErrInvalidCurrency) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if v < 0 {
			t.Fatalf("ParseAmount(%q, %q) = %d < 0", s, cur, v)
		}
		// Formatting gives the canonical spelling, which parses back.
		back, err := ParseAmount(FormatAmount(v, cur), cur)
		if err != nil || back != v {
			t.Fatalf("round trip of %d %s: %d, %v", v, cur, back, err)
		}
		// Whatever parsed is a plain decimal.
		if strings.Trim(s, "0123456789.") != "" {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzVerifyQuote(f *testing.F) {
	now := time.Date(2024, 5, 17, 18, 0, 0, 0, time.UTC)
	c, err := NewCalculator(DefaultConfig(), []byte("fuzz secret 0123456789"), func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	pickup, dropoff := geo.Point{Lat: 37.7955, Lon: -122.3937}, geo.Point{Lat: 37.7599, Lon: -122.4148}
	q, err := c.Quote(pickup, dropoff)
	if err != nil {
		f.Fatal(err)
	}
	p64, _, _ := strings.Cut(q.ID, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(p64)
	f.Add(q.ID, payload, pickup.Lat, pickup.Lon)
	f.Add(q.ID+"x", []byte(`{"v":1}`), 0.0, 0.0)
	f.Add("", []byte(`{}`), 91.0, 0.0)
	f.Add(".", []byte(`{"v":1,"r":"default","p":{"lat":1,"lon":1},"d":{"lat":1,"lon":1},"f":-1,"c":"USD","s":100,"m":0,"t":0,"e":1}`), math.NaN(), 0.0)
	f.Add("a.b.c", []byte(`{"v":1,"r":"default","p":{"lat":1e400,"lon":1},"e":1e30}`), 0.0, 180.0)
	f.Fuzz(func(t *testing.T, id string, payload []byte, lat, lon float64) {
		ride := geo.Point{Lat: lat, Lon: lon}
		// Arbitrary ids: nothing forged may verify.
		if got, err := c.VerifyQuote(id, ride, dropoff); err == nil && id != q.ID {
			// Only a genuine id can verify; the fuzzer cannot forge a MAC.
			if got.Fare != q.Fare {
				t.Fatalf("forged id %q verified: %+v", id, got)
			}
		}
		// Arbitrary payloads signed with the real key reach the decoder,
		// which must reject or accept them without panicking.
		signed := base64.RawURLEncoding.EncodeToString(payload) + "." +
			base64.RawURLEncoding.EncodeToString(c.signer.mac(nil, payload))
		got, err := c.VerifyQuote(signed, ride, dropoff)
		if err != nil {
			return
		}
		if got.Fare.Amount < 0 || got.Surge < 1 || got.Pickup.Validate() != nil || got.Dropoff.Validate() != nil {
			t.Fatalf("accepted an out-of-range quote %+v", got)
		}
		if _, err := c.FinalFare(got.Booking(), got.DistanceM, got.DurationS); err != nil && !errors.Is(err, ErrUnknownRegion) {
			t.Fatalf("FinalFare of an accepted quote: %v", err)
		}
	})
}
