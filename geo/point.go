package geo

import (
	"errors"
	"fmt"
	"math"
)

// EarthRadius is the mean Earth radius in metres used by Distance.
const EarthRadius = 6371008.8

// degToRad converts degrees to radians.
const degToRad = math.Pi / 180

// ErrInvalidPoint is wrapped by every coordinate validation error.
var ErrInvalidPoint = errors.New("invalid point")

// Point is a WGS84 position in degrees.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Validate reports whether p is a usable coordinate: finite, lat within
// [-90, 90] and lon within [-180, 180]. The error wraps ErrInvalidPoint and
// names the offending field.
func (p Point) Validate() error {
	switch {
	case math.IsNaN(p.Lat) || math.IsInf(p.Lat, 0):
		return fmt.Errorf("%w: lat must be a finite number", ErrInvalidPoint)
	case math.IsNaN(p.Lon) || math.IsInf(p.Lon, 0):
		return fmt.Errorf("%w: lon must be a finite number", ErrInvalidPoint)
	case p.Lat < -90 || p.Lat > 90:
		return fmt.Errorf("%w: lat must be within [-90, 90], got %v", ErrInvalidPoint, p.Lat)
	case p.Lon < -180 || p.Lon > 180:
		return fmt.Errorf("%w: lon must be within [-180, 180], got %v", ErrInvalidPoint, p.Lon)
	}
	return nil
}

// Distance returns the great-circle distance between a and b in metres
// (haversine on a sphere of radius EarthRadius). For valid points it never
// returns NaN or Inf, it returns exactly 0 for identical points and for two
// points on the same pole, and it is symmetric bit for bit. Longitudes 180
// and -180 are the same meridian.
func Distance(a, b Point) float64 {
	return haversine(a.Lat, a.Lon, cosLat(a.Lat), b.Lat, b.Lon, cosLat(b.Lat))
}

// cosLat returns cos(lat) for lat in degrees, exactly 0 at the poles
// (math.Cos(math.Pi/2) is 6e-17, which would put points on a pole a few
// nanometres apart).
func cosLat(lat float64) float64 {
	if lat == 90 || lat == -90 {
		return 0
	}
	return math.Cos(lat * degToRad)
}

// haversine is Distance with cos(lat) precomputed by cosLat, so the index
// can cache it per entry. Index and Distance share this code so their
// results are identical to the last bit.
func haversine(lat1, lon1, cos1, lat2, lon2, cos2 float64) float64 {
	if lat1 == lat2 && lon1 == lon2 {
		return 0
	}
	dLon := lon2 - lon1 // exact enough: both within [-180, 180]
	if dLon > 180 {
		dLon -= 360
	} else if dLon < -180 {
		dLon += 360
	}
	s1 := math.Sin((lat2 - lat1) * degToRad / 2)
	s2 := math.Sin(dLon * degToRad / 2)
	// The explicit float64 conversions forbid fused multiply-adds, so every
	// caller computes the same bits on every architecture.
	h := float64(s1*s1) + float64(float64(cos1*cos2)*float64(s2*s2))
	if h > 1 {
		h = 1
	} else if h < 0 {
		h = 0
	}
	return 2 * EarthRadius * math.Asin(math.Sqrt(h))
}
