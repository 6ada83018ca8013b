package blackbox_test

import (
	"strings"
	"testing"

	"github.com/ridehail/dispatch/internal/server"
)

func TestScratch(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	for _, b := range []string{tripBody + "]", tripBody + "}", tripBody + strings.Repeat(" ", 20<<10), tripBody + strings.Repeat(" ", 20<<10) + "x",
		`{"pickup":{"lat":37.7749,"lon":-122.4194,"LAT":95},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
		`{"PICKUP":{"LAT":37.7749,"Lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
		`{"pickup":{"lat":99,"lon":-122.4194},"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	} {
		r := do(t, "POST", base+"/v1/quotes", b)
		t.Logf("%s -> %s", truncate(b, 120), r)
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		t.Logf("%s driver ws: %s", m, do(t, m, base+"/v1/driver/ws?driver_id=x", ""))
		t.Logf("%s rider ws: %s", m, do(t, m, base+"/v1/rider/ws?rider_id=x&ride_id=y", ""))
	}
	t.Logf("GET driver ws no upgrade: %s", do(t, "GET", base+"/v1/driver/ws?driver_id=x", ""))
	for _, p := range []string{"//v1/rides", "/v1/rides/../quotes", "/v1/./quotes"} {
		t.Logf("POST %s: %s %v", p, do(t, "POST", base+p+"?rider_id=a", tripBody), "")
	}
}
