package pricing_test

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

func loadTestdata(tb testing.TB) pricing.Config {
	tb.Helper()
	f, err := os.Open("../testdata/pricing.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	cfg, err := pricing.LoadConfig(f)
	if err != nil {
		tb.Fatalf("LoadConfig(testdata/pricing.json): %v", err)
	}
	return cfg
}

func TestLoadConfigExample(t *testing.T) {
	cfg := loadTestdata(t)
	if len(cfg.Regions) != 5 {
		t.Fatalf("got %d regions, want 5", len(cfg.Regions))
	}
	sf := pricing.Rules{
		Region: "sf", Currency: "USD", Base: 350, PerKm: 171, PerMinute: 55, Minimum: 800, BookingFee: 250,
		Bounds: &pricing.Box{MinLat: 37.60, MinLon: -122.55, MaxLat: 37.85, MaxLon: -122.35},
	}
	if !reflect.DeepEqual(cfg.Regions[0], sf) {
		t.Errorf("sf = %+v, want %+v", cfg.Regions[0], sf)
	}
	tokyo := cfg.Regions[3]
	if tokyo.Currency != "JPY" || tokyo.Base != 500 || tokyo.PerKm != 390 {
		t.Errorf("tokyo = %+v", tokyo)
	}
	if d := cfg.Regions[4]; d.Region != "default" || d.Bounds != nil {
		t.Errorf("last region = %+v, want the unbounded default", d)
	}
	if cfg.QuoteTTL != 5*time.Minute || cfg.Surge.Window != 5*time.Minute || cfg.Surge.Cap != 3 || cfg.DetourFactor != 1.3 {
		t.Errorf("scalars = %+v", cfg)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := pricing.LoadConfig(strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := pricing.DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("LoadConfig({}) = %+v, want DefaultConfig %+v", cfg, want)
	}
	if err := pricing.DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig invalid: %v", err)
	}

	cfg, err = pricing.LoadConfig(strings.NewReader(`{"detour_factor": 1.2, "surge": {"cap": 2.5}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := pricing.DefaultConfig()
	want.DetourFactor = 1.2
	want.Surge.Cap = 2.5
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("partial config = %+v, want %+v", cfg, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	region := func(fields string) string {
		return `{"regions": [{"region": "x", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1"` + fields + `}]}`
	}
	tests := []struct {
		name, in, want string
	}{
		{"too many decimals", strings.Replace(region(""), `"base": "1"`, `"base": "1.999"`, 1), `regions[0].base: invalid amount: "1.999": USD allows at most 2 decimal places`},
		{"negative amount", strings.Replace(region(""), `"per_km": "1"`, `"per_km": "-1"`, 1), "regions[0].per_km: invalid amount"},
		{"exponent", strings.Replace(region(""), `"minimum": "1"`, `"minimum": "1e3"`, 1), "regions[0].minimum: invalid amount"},
		{"number instead of string", strings.Replace(region(""), `"base": "1"`, `"base": 2.5`, 1), "regions.base: expected a string, got JSON number"},
		{"missing amount", strings.Replace(region(""), `, "booking_fee": "1"`, ``, 1), "regions[0].booking_fee: required"},
		{"bad currency", strings.Replace(region(""), `"USD"`, `"usd"`, 1), "regions[0].currency: invalid currency"},
		{"trailing garbage", region("") + "x", "unexpected data"},
		{"JPY with cents", strings.Replace(strings.Replace(region(""), `"USD"`, `"JPY"`, 1), `"base": "1"`, `"base": "1.50"`, 1), "regions[0].base: invalid amount: \"1.50\": JPY allows at most 0 decimal places"},
		{"bad region name", strings.Replace(region(""), `"region": "x"`, `"region": "San Francisco"`, 1), "regions[0].region"},
		{"empty region name", strings.Replace(region(""), `"region": "x"`, `"region": ""`, 1), "regions[0].region"},
		{"no default region", region(`, "bounds": {"min_lat": 1, "min_lon": 1, "max_lat": 2, "max_lon": 2}`), "exactly one region must have no bounds"},
		{"bad bounds", `{"regions": [{"region": "a", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1", "bounds": {"min_lat": 3, "min_lon": 1, "max_lat": 2, "max_lon": 2}}, {"region": "d", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1"}]}`, "regions[0].bounds: min_lat 3 exceeds max_lat 2"},
		{"lat out of range", `{"regions": [{"region": "a", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1", "bounds": {"min_lat": -91, "min_lon": 1, "max_lat": 2, "max_lon": 2}}, {"region": "d", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1"}]}`, "regions[0].bounds: min_lat must be within [-90, 90]"},
		{"two defaults", `{"regions": [{"region": "a", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1"}, {"region": "b", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1"}]}`, "exactly one region must have no bounds (the default), found 2"},
		{"duplicate region", `{"regions": [{"region": "a", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1", "bounds": {"min_lat": 1, "min_lon": 1, "max_lat": 2, "max_lon": 2}}, {"region": "a", "currency": "USD", "base": "1", "per_km": "1", "per_minute": "1", "minimum": "1", "booking_fee": "1"}]}`, `regions[1].region: duplicate region "a"`},
		{"empty regions", `{"regions": []}`, "regions: at least one region is required"},
		{"unknown field", `{"detour": 1.3}`, `unknown field "detour"`},
		{"unknown nested field", `{"surge": {"windw": "5m"}}`, `unknown field "windw"`},
		{"unknown region field", region(`, "per_mile": "1"`), `unknown field "per_mile"`},
		{"trailing data", `{} {}`, "unexpected data after the top-level object"},
		{"not an object", `[]`, "expected an object"},
		{"empty", ``, "empty input"},
		{"syntax", `{"detour_factor": }`, "JSON syntax error"},
		{"detour below 1", `{"detour_factor": 0.5}`, "detour_factor must be within [1, 5], got 0.5"},
		{"explicit zero speed", `{"avg_speed_kmh": 0}`, "avg_speed_kmh must be within [1, 300], got 0"},
		{"ttl syntax", `{"quote_ttl": "5 minutes"}`, `quote_ttl: want a duration like "5m", got "5 minutes"`},
		{"negative ttl", `{"quote_ttl": "-5m"}`, "quote_ttl must be within"},
		{"cap below 1", `{"surge": {"cap": 0.5}}`, "surge.cap must be within [1, 10], got 0.5"},
		{"floor above cap", `{"surge": {"floor": 2, "cap": 1.5}}`, "surge.floor 2 exceeds surge.cap 1.5"},
		{"precision", `{"surge": {"cell_precision": 13}}`, "surge.cell_precision must be within [1, 12], got 13"},
		{"precision type", `{"surge": {"cell_precision": 4.5}}`, "surge.cell_precision: expected an integer"},
		{"window", `{"surge": {"window": "0s"}}`, "surge.window must be within"},
		{"fare ratio", `{"tolerance": {"fare_ratio": 0.9}}`, "tolerance.fare_ratio must be within"},
		{"too large", `{"regions": [` + strings.Repeat(" ", 1<<20) + `]}`, "larger than 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pricing.LoadConfig(strings.NewReader(tc.in))
			if !errors.Is(err, pricing.ErrInvalidConfig) {
				t.Fatalf("error = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNewCalculatorErrors(t *testing.T) {
	if _, err := pricing.NewCalculator(pricing.Config{}, []byte("short"), nil); !errors.Is(err, pricing.ErrInvalidConfig) {
		t.Errorf("short secret: error = %v, want ErrInvalidConfig", err)
	}
	cfg := pricing.Config{DetourFactor: 0.5}
	if _, err := pricing.NewCalculator(cfg, testSecret, nil); !errors.Is(err, pricing.ErrInvalidConfig) {
		t.Errorf("bad detour: error = %v, want ErrInvalidConfig", err)
	}
	// Zero fields take defaults.
	c, err := pricing.NewCalculator(pricing.Config{}, testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Config(), pricing.DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Config() = %+v, want %+v", got, want)
	}
}

func TestBoxContains(t *testing.T) {
	b := pricing.Box{MinLat: -10, MinLon: 170, MaxLat: 10, MaxLon: -170} // crosses the antimeridian
	for _, tc := range []struct {
		p    geo.Point
		want bool
	}{
		{geo.Point{Lat: 0, Lon: 175}, true},
		{geo.Point{Lat: 0, Lon: -175}, true},
		{geo.Point{Lat: 0, Lon: 180}, true},
		{geo.Point{Lat: 10, Lon: 170}, true},
		{geo.Point{Lat: 0, Lon: 0}, false},
		{geo.Point{Lat: 11, Lon: 175}, false},
	} {
		if got := b.Contains(tc.p.Lat, tc.p.Lon); got != tc.want {
			t.Errorf("Contains(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
