package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ridehail/dispatch/realtime"
)

func TestAppendFrame_DecodesAsSent(t *testing.T) {
	for _, batch := range []int{1, 10, maxBatch} {
		dc := &driverConn{lat: 37.7, lon: -122.4, rng: rand.New(rand.NewPCG(1, 2))}
		b := appendFrame(nil, dc, batch, 1_700_000_000_123)
		if len(b) >= 4096 {
			t.Fatalf("batch %d: frame of %d bytes exceeds the server's limit", batch, len(b))
		}
		m, err := realtime.DecodeDriverMessage(b)
		if err != nil {
			t.Fatalf("batch %d: %v: %s", batch, err, b)
		}
		fixes := []float64{m.Fix.Lat}
		if batch == 1 {
			if m.Type != realtime.TypeLocation || m.Fix.TS != 1_700_000_000_123 {
				t.Fatalf("got %+v", m)
			}
		} else {
			if m.Type != realtime.TypeLocations || len(m.Points) != batch {
				t.Fatalf("batch %d: got %s with %d points", batch, m.Type, len(m.Points))
			}
			fixes = fixes[:0]
			for _, p := range m.Points {
				if p.TS != 1_700_000_000_123 {
					t.Fatalf("ts %d", p.TS)
				}
				fixes = append(fixes, p.Lat)
			}
		}
		// The last fix is the driver's position, to the 6 decimals sent.
		if last := fixes[len(fixes)-1]; math.Abs(last-dc.lat) > 1e-6 {
			t.Fatalf("last lat %v, driver at %v", last, dc.lat)
		}
	}
}

func TestQuantile(t *testing.T) {
	// 100 observations: 50 <= 1 ms, 40 in (1, 2] ms, 10 in (2, 5] ms.
	bks := []bucket{{0.005, 100}, {0.001, 50}, {0.002, 90}}
	for _, c := range []struct{ p, want float64 }{
		{0.5, 0.001},
		{0.7, 0.0015},
		{0.95, 0.0035},
	} {
		if got := quantile(bks, 100, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("p%.0f = %v, want %v", c.p*100, got, c.want)
		}
	}
	if got := quantile([]bucket{{0.001, 10}}, 20, 0.99); !math.IsInf(got, 1) {
		t.Errorf("beyond the last bucket: %v", got)
	}
	if got := quantile(nil, 0, 0.5); got != 0 {
		t.Errorf("no observations: %v", got)
	}
}

func TestConfigChecks(t *testing.T) {
	good := config{server: "http://127.0.0.1:8080", drivers: 1, every: 1, batch: 1, ramp: 1, workers: 1}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*config){
		"remote server": func(c *config) { c.server = "http://10.0.0.1:8080" },
		"not http":      func(c *config) { c.server = "ftp://127.0.0.1:8080" },
		"batch too big": func(c *config) { c.batch = maxBatch + 1 },
		"no drivers":    func(c *config) { c.drivers = 0 },
		"no interval":   func(c *config) { c.every = 0 },
	} {
		c := good
		mut(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := loopbackHost("http://localhost:1"); err != nil {
		t.Error(err)
	}
	if _, err := loopbackHost("http://[::1]:1"); err != nil {
		t.Error(err)
	}
}
