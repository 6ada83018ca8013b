package pricing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"
)

// maxConfigBytes bounds the config file LoadConfig reads.
const maxConfigBytes = 1 << 20

// fileConfig is the JSON layout of a pricing config file. Pointers tell an
// absent field (keep the default) from an explicit one (validated as given).
type fileConfig struct {
	Regions      []fileRegion   `json:"regions"`
	DetourFactor *float64       `json:"detour_factor"`
	AvgSpeedKmh  *float64       `json:"avg_speed_kmh"`
	QuoteTTL     *string        `json:"quote_ttl"`
	Surge        *fileSurge     `json:"surge"`
	Tolerance    *fileTolerance `json:"tolerance"`
}

type fileRegion struct {
	Region     string  `json:"region"`
	Currency   string  `json:"currency"`
	Base       *string `json:"base"`
	PerKm      *string `json:"per_km"`
	PerMinute  *string `json:"per_minute"`
	Minimum    *string `json:"minimum"`
	BookingFee *string `json:"booking_fee"`
	Bounds     *Box    `json:"bounds"`
}

type fileSurge struct {
	Window        *string  `json:"window"`
	HalfLife      *string  `json:"half_life"`
	Floor         *float64 `json:"floor"`
	Cap           *float64 `json:"cap"`
	Sensitivity   *float64 `json:"sensitivity"`
	CellPrecision *int     `json:"cell_precision"`
}

type fileTolerance struct {
	FareRatio     *float64 `json:"fare_ratio"`
	DistanceRatio *float64 `json:"distance_ratio"`
	MatchRadiusM  *float64 `json:"match_radius_m"`
}

// LoadConfig reads a JSON pricing config. Absent fields keep the values of
// DefaultConfig; a present "regions" list replaces the default region (and
// must then hold exactly one region without "bounds"). Money amounts are
// decimal strings in the region's currency ("2.50"), durations are Go
// duration strings ("5m"):
//
//	{"regions": [{"region": "sf", "currency": "USD", "base": "2.50",
//	  "per_km": "1.55", "per_minute": "0.35", "minimum": "7.00",
//	  "booking_fee": "2.00", "bounds": {"min_lat": 37.6, "min_lon": -122.6,
//	  "max_lat": 37.9, "max_lon": -122.3}}, ...],
//	 "detour_factor": 1.3, "avg_speed_kmh": 25, "quote_ttl": "5m",
//	 "surge": {"window": "5m", "half_life": "1m", "floor": 1, "cap": 3,
//	  "sensitivity": 1, "cell_precision": 5},
//	 "tolerance": {"fare_ratio": 1.25, "distance_ratio": 1.5, "match_radius_m": 50}}
//
// Unknown fields, trailing data and inputs over 1 MiB are rejected. Errors
// wrap ErrInvalidConfig and name the field.
func LoadConfig(r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("%w: read: %w", ErrInvalidConfig, err)
	}
	if len(data) > maxConfigBytes {
		return Config{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalidConfig, maxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileConfig
	if err := dec.Decode(&f); err != nil {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%w: unexpected data after the top-level object", ErrInvalidConfig)
	}
	cfg, err := f.toConfig()
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// describeJSONError rewrites decoding errors so they name the field by its
// JSON path.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("top level: expected an object, got JSON %s", te.Value)
		}
		want := te.Type.String()
		switch te.Type.Kind() {
		case reflect.String:
			want = "a string"
		case reflect.Float64:
			want = "a number"
		case reflect.Int:
			want = "an integer"
		case reflect.Struct:
			want = "an object"
		case reflect.Slice:
			want = "an array"
		}
		return fmt.Sprintf("%s: expected %s, got JSON %s", te.Field, want, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("JSON syntax error at byte %d: %v", se.Offset, se)
	}
	if errors.Is(err, io.EOF) {
		return "empty input"
	}
	return err.Error()
}

func (f fileConfig) toConfig() (Config, error) {
	cfg := DefaultConfig()
	if f.Regions != nil {
		cfg.Regions = make([]Rules, 0, len(f.Regions))
		for i, fr := range f.Regions {
			r, err := fr.toRules()
			if err != nil {
				return Config{}, fmt.Errorf("regions[%d].%w", i, err)
			}
			cfg.Regions = append(cfg.Regions, r)
		}
	}
	setF := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	setD := func(name string, dst *time.Duration, src *string) error {
		if src == nil {
			return nil
		}
		d, err := time.ParseDuration(*src)
		if err != nil {
			return fmt.Errorf("%s: want a duration like \"5m\", got %q", name, *src)
		}
		*dst = d
		return nil
	}
	setF(&cfg.DetourFactor, f.DetourFactor)
	setF(&cfg.AvgSpeedKmh, f.AvgSpeedKmh)
	if err := setD("quote_ttl", &cfg.QuoteTTL, f.QuoteTTL); err != nil {
		return Config{}, err
	}
	if s := f.Surge; s != nil {
		if err := setD("surge.window", &cfg.Surge.Window, s.Window); err != nil {
			return Config{}, err
		}
		if err := setD("surge.half_life", &cfg.Surge.HalfLife, s.HalfLife); err != nil {
			return Config{}, err
		}
		setF(&cfg.Surge.Floor, s.Floor)
		setF(&cfg.Surge.Cap, s.Cap)
		setF(&cfg.Surge.Sensitivity, s.Sensitivity)
		if s.CellPrecision != nil {
			cfg.Surge.CellPrecision = *s.CellPrecision
		}
	}
	if t := f.Tolerance; t != nil {
		setF(&cfg.Tolerance.FareRatio, t.FareRatio)
		setF(&cfg.Tolerance.DistanceRatio, t.DistanceRatio)
		setF(&cfg.Tolerance.MatchRadiusM, t.MatchRadiusM)
	}
	return cfg, nil
}

// toRules parses the money strings of a region; the error starts with the
// field name so the caller can prefix "regions[i].".
func (fr fileRegion) toRules() (Rules, error) {
	r := Rules{Region: fr.Region, Currency: fr.Currency, Bounds: fr.Bounds}
	if err := validRegionName(fr.Region); err != nil {
		return Rules{}, fmt.Errorf("region: %w", err)
	}
	if _, err := MinorDigits(fr.Currency); err != nil {
		return Rules{}, fmt.Errorf("currency: %w", err)
	}
	for _, a := range []struct {
		name string
		src  *string
		dst  *int64
	}{
		{"base", fr.Base, &r.Base},
		{"per_km", fr.PerKm, &r.PerKm},
		{"per_minute", fr.PerMinute, &r.PerMinute},
		{"minimum", fr.Minimum, &r.Minimum},
		{"booking_fee", fr.BookingFee, &r.BookingFee},
	} {
		if a.src == nil {
			return Rules{}, fmt.Errorf("%s: required (use \"0\" for none)", a.name)
		}
		v, err := ParseAmount(*a.src, fr.Currency)
		if err != nil {
			return Rules{}, fmt.Errorf("%s: %w", a.name, err)
		}
		*a.dst = v
	}
	return r, nil
}
