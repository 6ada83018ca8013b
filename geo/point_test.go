package geo

import (
	"errors"
	"math"
	"testing"
)

func TestValidate(t *testing.T) {
	valid := []Point{{0, 0}, {90, 180}, {-90, -180}, {37.77, -122.42}, {-16.8, 179.99}}
	for _, p := range valid {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v, want nil", p, err)
		}
	}
	invalid := []Point{
		{math.NaN(), 0}, {0, math.NaN()}, {math.Inf(1), 0}, {0, math.Inf(-1)},
		{90.000001, 0}, {-91, 0}, {0, 180.5}, {0, -181},
	}
	for _, p := range invalid {
		if err := p.Validate(); !errors.Is(err, ErrInvalidPoint) {
			t.Errorf("Validate(%v) = %v, want ErrInvalidPoint", p, err)
		}
	}
}

func TestDistanceKnownValues(t *testing.T) {
	quarter := math.Pi / 2 * EarthRadius
	tests := []struct {
		name string
		a, b Point
		want float64
		tol  float64
	}{
		{"one degree of latitude", Point{0, 0}, Point{1, 0}, EarthRadius * math.Pi / 180, 1e-6},
		{"one degree of longitude at the equator", Point{0, 0}, Point{0, 1}, EarthRadius * math.Pi / 180, 1e-6},
		{"equator to pole", Point{0, 42}, Point{90, 0}, quarter, 1e-6},
		{"pole to pole", Point{90, 0}, Point{-90, 0}, 2 * quarter, 1e-6},
		{"antipodes on the equator", Point{0, 0}, Point{0, 180}, 2 * quarter, 1e-6},
		{"antipodes off the equator", Point{45, 30}, Point{-45, -150}, 2 * quarter, 0.5},
		{"across the antimeridian", Point{-16.80, 179.99}, Point{-16.80, -179.99}, 2129.0, 0.1},
		{"ho chi minh regression", Point{10.952859455425, 106.526802369906}, Point{10.958879, 106.528055}, 683.2, 0.1},
		{"antimeridian at the equator", Point{0, 179.9}, Point{0, -179.5}, 66717, 1},
		{"180 and -180 are one meridian", Point{12, 180}, Point{12, -180}, 0, 0},
		{"north pole, any longitude", Point{90, 10}, Point{90, -170}, 0, 0},
		{"south pole, any longitude", Point{-90, 0}, Point{-90, 123}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Distance(tt.a, tt.b)
			if math.Abs(d-tt.want) > tt.tol {
				t.Errorf("Distance(%v, %v) = %.4f, want %.4f ± %v", tt.a, tt.b, d, tt.want, tt.tol)
			}
			if r := Distance(tt.b, tt.a); r != d {
				t.Errorf("not symmetric: %v vs %v", d, r)
			}
		})
	}
}

func TestDistanceIdenticalIsZero(t *testing.T) {
	for _, p := range []Point{{0, 0}, {90, 0}, {-90, 180}, {37.7749, -122.4194}, {-85, -180}, {1e-300, 5e-324}} {
		if d := Distance(p, p); d != 0 {
			t.Errorf("Distance(%v, %v) = %v, want exactly 0", p, p, d)
		}
	}
}

// TestDistanceFiniteEverywhere walks a grid of valid points, including
// poles, antimeridian and antipodes, checking the result is finite, within
// [0, pi*R] and symmetric bit for bit.
func TestDistanceFiniteEverywhere(t *testing.T) {
	lats := []float64{-90, -89.9999999, -85.05112878, -45, -1e-9, 0, 1e-9, 10.5, 60, 85, 89.9999999, 90}
	lons := []float64{-180, -179.9999999, -90, -1e-9, 0, 1e-9, 45, 90, 179.9999999, 180}
	var pts []Point
	for _, la := range lats {
		for _, lo := range lons {
			pts = append(pts, Point{la, lo}, Point{-la, lo + math.Copysign(180, -lo)})
		}
	}
	for _, a := range pts {
		for _, b := range pts {
			d := Distance(a, b)
			if math.IsNaN(d) || math.IsInf(d, 0) || d < 0 || d > math.Pi*EarthRadius {
				t.Fatalf("Distance(%v, %v) = %v", a, b, d)
			}
			if r := Distance(b, a); r != d {
				t.Fatalf("Distance(%v, %v) = %v but reversed %v", a, b, d, r)
			}
		}
	}
}
