package redis

import (
	"math"
	"testing"

	"github.com/ridehail/dispatch/geo"
)

// FuzzRawRoundTrip: the raw-coordinates encoding gives back the exact
// float64s and fix time (no Redis needed).
func FuzzRawRoundTrip(f *testing.F) {
	f.Add(37.7749, -122.4194, int64(1_700_000_000_000))
	f.Add(85.05112878, 180.0, int64(0))
	f.Add(-85.05112878, -180.0, int64(-1))
	f.Add(5e-324, -0.0, int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, lat, lon float64, seen int64) {
		p := geo.Point{Lat: lat, Lon: lon}
		if p.Validate() != nil {
			return
		}
		raw := string(appendRaw(nil, p, seen))
		q, s, err := parseRaw(raw)
		if err != nil || math.Float64bits(q.Lat) != math.Float64bits(lat) && q.Lat != lat ||
			math.Float64bits(q.Lon) != math.Float64bits(lon) && q.Lon != lon || s != seen {
			t.Fatalf("%q: %v %d %v, want %v %d", raw, q, s, err, p, seen)
		}
	})
}

func TestParseRawRejectsGarbage(t *testing.T) {
	for _, raw := range []string{"", "1,2", "a,2,3", "1,b,3", "1,2,c", "1,2,3,4"} {
		if _, _, err := parseRaw(raw); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
}
