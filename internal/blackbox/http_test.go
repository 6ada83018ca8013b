package blackbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ridehail/dispatch/internal/server"
)

// badTripBodies are POST /v1/quotes and POST /v1/rides bodies that must be
// refused with 400 invalid_argument.
var badTripBodies = map[string]string{
	"empty":              ``,
	"whitespace":         "  \n\t ",
	"open brace":         `{`,
	"truncated":          `{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8`,
	"not json":           `pickup=1&dropoff=2`,
	"null":               `null`,
	"array":              `[]`,
	"string":             `"ride"`,
	"number":             `42`,
	"bool":               `true`,
	"empty object":       `{}`,
	"pickup missing":     `{"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"dropoff missing":    `{"pickup":{"lat":37.7749,"lon":-122.4194}}`,
	"pickup null":        `{"pickup":null,"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"pickup empty":       `{"pickup":{},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lon missing":        `{"pickup":{"lat":37.7749},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat null":           `{"pickup":{"lat":null,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat string":         `{"pickup":{"lat":"37.7749","lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat bool":           `{"pickup":{"lat":true,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat object":         `{"pickup":{"lat":{},"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat 91":             `{"pickup":{"lat":91,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat -90.0001":       `{"pickup":{"lat":-90.0001,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lon 180.0001":       `{"pickup":{"lat":37.7749,"lon":180.0001},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"dropoff lon -181":   `{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-181}}`,
	"lat 1e400":          `{"pickup":{"lat":1e400,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat -1e400":         `{"pickup":{"lat":-1e400,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat huge":           `{"pickup":{"lat":1e308,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat NaN":            `{"pickup":{"lat":NaN,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat Infinity":       `{"pickup":{"lat":Infinity,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat hex":            `{"pickup":{"lat":0x25,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat leading +":      `{"pickup":{"lat":+37.7,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"pickup array":       `{"pickup":[37.7749,-122.4194],"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"pickup string":      `{"pickup":"37.7749,-122.4194","dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"two objects":        tripBody + tripBody,
	"trailing garbage":   tripBody + ` x`,
	"single quotes":      `{'pickup':{'lat':37.7749,'lon':-122.4194}}`,
	"trailing comma":     `{"pickup":{"lat":37.7749,"lon":-122.4194,},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"comment":            `{/*x*/"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"BOM":                "\ufeff" + tripBody,
	"quote_id number":    `{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712},"quote_id":5}`,
	"deep nesting":       strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
	"invalid utf8 key":   "{\"pi\xffckup\":1}",
	"NUL byte":           "{\"pickup\":\x00}",
	"dup key, last bad":  `{"pickup":{"lat":37.7749,"lon":-122.4194},"pickup":{"lat":99,"lon":0},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
	"lat exponent range": `{"pickup":{"lat":9.1e1,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`,
}

// TestHTTPBadTripBodies sends every malformed body to both trip endpoints:
// each gets 400 invalid_argument as JSON, and no ride is created, priced
// as demand, or offered to a connected driver.
func TestHTTPBadTripBodies(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "watcher", 100)
	for name, body := range badTripBodies {
		wantError(t, "quote/"+name, do(t, "POST", base+"/v1/quotes", body), http.StatusBadRequest, "invalid_argument")
		wantError(t, "ride/"+name, do(t, "POST", base+"/v1/rides?rider_id=alice", body), http.StatusBadRequest, "invalid_argument")
	}
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 0 {
		t.Errorf("rides requested after only bad requests: %v", n)
	}
	if fs := d.barrier(); len(fs) != 0 {
		t.Errorf("driver got frames after only bad ride requests: %v", raws(fs))
	}
	// The server still works.
	r := requestRide(t, base, "alice")
	if o := d.awaitOffer(r.ID); o.OfferID == "" {
		t.Fatalf("offer: %s", o.Raw)
	}
}

// TestHTTPBodyLimit checks the 16 KiB body limit on every body endpoint.
func TestHTTPBodyLimit(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	big := `{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712},"pad":"` + strings.Repeat("x", 17<<10) + `"}`
	wantError(t, "quote", do(t, "POST", base+"/v1/quotes", big), http.StatusRequestEntityTooLarge, "payload_too_large")
	wantError(t, "ride", do(t, "POST", base+"/v1/rides?rider_id=a", big), http.StatusRequestEntityTooLarge, "payload_too_large")
	// 1 MiB, unread by a lazy server, must not hang or be accepted.
	huge := `{"pad":"` + strings.Repeat("y", 1<<20) + `"}`
	wantError(t, "ride 1MiB", do(t, "POST", base+"/v1/rides?rider_id=a", huge), http.StatusRequestEntityTooLarge, "payload_too_large")
	r := requestRide(t, base, "a")
	bigRating := `{"stars":5,"comment":"` + strings.Repeat("z", 17<<10) + `"}`
	wantError(t, "rating", do(t, "POST", base+"/v1/rides/"+r.ID+"/rating?rider_id=a", bigRating), http.StatusRequestEntityTooLarge, "payload_too_large")
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 1 {
		t.Errorf("rides requested: %v, want 1", n)
	}
	// Just under the limit is fine.
	ok := `{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712},"pad":"` + strings.Repeat("x", 15<<10) + `"}`
	if got := do(t, "POST", base+"/v1/quotes", ok); got.status != http.StatusOK {
		t.Errorf("15 KiB quote: %s", got)
	}
}

// TestHTTPQuoteAndRideExtremes prices the edges of the coordinate space:
// each is either priced (2xx) or refused with a 4xx JSON error, never a 5xx.
func TestHTTPQuoteAndRideExtremes(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	pts := [][4]float64{
		{90, 180, -90, -180}, {0, 0, 0, 0}, {37.7749, -122.4194, 37.7749, -122.4194},
		{0, 179.9999, 0, -179.9999}, {89.9999, 0, 89.9999, 180}, {-85.06, 10, -85.06, 10},
		{1e-300, 1e-300, -1e-300, -1e-300}, {0, 0, 0.00001, 0},
	}
	for _, p := range pts {
		body := fmt.Sprintf(`{"pickup":{"lat":%v,"lon":%v},"dropoff":{"lat":%v,"lon":%v}}`, p[0], p[1], p[2], p[3])
		for _, path := range []string{"/v1/quotes", "/v1/rides?rider_id=x"} {
			r := do(t, "POST", base+path, body)
			if r.status >= 500 {
				t.Errorf("%s %s: %s", path, body, r)
			}
			if r.status >= 400 {
				wantError(t, path+" "+body, r, r.status, "")
				continue
			}
			var v struct {
				Fare money `json:"fare"`
			}
			if err := json.Unmarshal(r.body, &v); err != nil || v.Fare.Amount <= 0 || v.Fare.Currency == "" {
				t.Errorf("%s %s: fare %s", path, body, r.body)
			}
		}
	}
}

// TestHTTPQuoteIDAbuse books rides with bad, tampered, mismatched and
// foreign quote ids.
func TestHTTPQuoteIDAbuse(t *testing.T) {
	srv := start(t, server.Config{})
	other := start(t, server.Config{}) // another random quote secret
	base := srv.URL()
	q := do(t, "POST", base+"/v1/quotes", tripBody)
	var quote struct {
		QuoteID string `json:"quote_id"`
		Fare    money  `json:"fare"`
	}
	if q.status != 200 || json.Unmarshal(q.body, &quote) != nil || quote.QuoteID == "" {
		t.Fatalf("quote: %s", q)
	}
	foreign := do(t, "POST", other.URL()+"/v1/quotes", tripBody)
	var fq struct {
		QuoteID string `json:"quote_id"`
	}
	_ = json.Unmarshal(foreign.body, &fq)
	withQuote := func(id string) string {
		return fmt.Sprintf(`{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712},"quote_id":%q}`, id)
	}
	flipped := []byte(quote.QuoteID)
	flipped[len(flipped)/2] ^= 1
	bad := map[string]string{
		"empty":      withQuote(""),
		"garbage":    withQuote("not-a-quote"),
		"unicode":    withQuote("☃️🚕\u202e"),
		"tampered":   withQuote(string(flipped)),
		"truncated":  withQuote(quote.QuoteID[:len(quote.QuoteID)-3]),
		"foreign":    withQuote(fq.QuoteID),
		"long":       withQuote(strings.Repeat("a", 10000)),
		"mismatched": fmt.Sprintf(`{"pickup":{"lat":37.7,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712},"quote_id":%q}`, quote.QuoteID),
	}
	for name, body := range bad {
		wantError(t, name, do(t, "POST", base+"/v1/rides?rider_id=q", body), http.StatusBadRequest, "invalid_argument")
	}
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 0 {
		t.Errorf("rides requested: %v", n)
	}
	// The genuine quote books at the quoted fare, twice (quotes are stateless).
	for i := 0; i < 2; i++ {
		r := decodeRide(t, "quoted ride", do(t, "POST", base+"/v1/rides?rider_id=q", withQuote(quote.QuoteID)), http.StatusCreated)
		if r.Fare != quote.Fare {
			t.Errorf("quoted ride fare %+v, want %+v", r.Fare, quote.Fare)
		}
	}
}

// TestHTTPNearbyQueryAbuse sends malformed queries to /v1/drivers/nearby.
func TestHTTPNearbyQueryAbuse(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	goOnline(t, base, "n1", 50)
	bad := []string{
		"", "lat=37.7", "lon=-122.4", "lat=&lon=", "lat=x&lon=1", "lat=37.7&lon=y",
		"lat=91&lon=0", "lat=-90.5&lon=0", "lat=0&lon=180.5", "lat=0&lon=-999",
		"lat=NaN&lon=0", "lat=nan&lon=0", "lat=Inf&lon=0", "lat=0&lon=-Infinity", "lat=1e400&lon=0",
		"lat=37.7&lon=-122.4&radius_m=0", "lat=37.7&lon=-122.4&radius_m=-1", "lat=37.7&lon=-122.4&radius_m=50000.1",
		"lat=37.7&lon=-122.4&radius_m=1e9", "lat=37.7&lon=-122.4&radius_m=NaN", "lat=37.7&lon=-122.4&radius_m=abc",
		"lat=37.7&lon=-122.4&radius_m=Inf",
		"lat=37.7&lon=-122.4&limit=0", "lat=37.7&lon=-122.4&limit=-1", "lat=37.7&lon=-122.4&limit=101",
		"lat=37.7&lon=-122.4&limit=1.5", "lat=37.7&lon=-122.4&limit=x", "lat=37.7&lon=-122.4&limit=99999999999999999999",
		"lat=37.7&lon=-122.4&limit=1e2", "lat=37.7;lon=-122.4", "lat=%zz&lon=1", "lat=37.7%00&lon=-122.4",
		"lat=%2037.7&lon=-122.4", "lat=0x25p0x&lon=1",
	}
	for _, q := range bad {
		wantError(t, "nearby?"+q, do(t, "GET", base+"/v1/drivers/nearby?"+q, ""), http.StatusBadRequest, "invalid_argument")
	}
	// Edges that are valid.
	for _, q := range []string{
		"lat=90&lon=180", "lat=-90&lon=-180", "lat=37.7749&lon=-122.4194&radius_m=50000&limit=100",
		"lat=37.7749&lon=-122.4194&radius_m=0.001&limit=1", "lat=37.7749&lon=-122.4194&unknown=1",
		"lat=37.7749&lon=-122.4194&limit=%2B5", "lat=0&lon=0",
	} {
		r := do(t, "GET", base+"/v1/drivers/nearby?"+q, "")
		var v struct {
			Drivers []nearbyDriver `json:"drivers"`
		}
		if r.status != 200 || json.Unmarshal(r.body, &v) != nil || v.Drivers == nil {
			t.Errorf("nearby?%s: %s", q, r)
		}
	}
	// The driver is found, with a distance rounded to 0.1 m.
	got := nearby(t, base)
	if len(got) != 1 || got[0].ID != "n1" || got[0].DistanceM < 49.9 || got[0].DistanceM > 50.1 {
		t.Errorf("nearby: %+v", got)
	}
}

// TestHTTPMethodsAndPaths sends wrong methods and odd paths: each gets a
// 4xx JSON error.
func TestHTTPMethodsAndPaths(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	r := requestRide(t, base, "alice")
	cases := []struct{ method, path string }{
		{"GET", "/v1/quotes"}, {"PUT", "/v1/quotes"}, {"DELETE", "/v1/quotes"},
		{"GET", "/v1/rides"}, {"PUT", "/v1/rides"}, {"PATCH", "/v1/rides/" + r.ID},
		{"DELETE", "/v1/rides/" + r.ID}, {"POST", "/v1/rides/" + r.ID},
		{"GET", "/v1/rides/" + r.ID + "/cancel"}, {"GET", "/v1/rides/" + r.ID + "/rating"},
		{"PUT", "/v1/rides/" + r.ID + "/cancel"}, {"POST", "/v1/drivers/nearby?lat=1&lon=1"},
		{"POST", "/healthz"}, {"DELETE", "/metrics"}, {"POST", "/readyz"},
		{"GET", "/"}, {"GET", "/v1"}, {"GET", "/v1/"}, {"GET", "/v2/rides/" + r.ID},
		{"GET", "/v1/rides/" + r.ID + "/"}, {"GET", "/v1/rides/" + r.ID + "/x"},
		{"GET", "/V1/RIDES/" + r.ID}, {"GET", "/v1/rides/%00"}, {"GET", "/v1/rides/%2e%2e"},
		{"GET", "/v1/rides/" + strings.Repeat("a", 8000)}, {"GET", "/v1/rides/☃"},
		{"GET", "/v1/rides/" + r.ID + "%2fcancel"}, {"POST", "/v1/rides/nope/cancel?rider_id=alice"},
		{"GET", "/v1/rides/nope"}, {"POST", "/v1/rides/%20/rating?rider_id=alice"},
		{"GET", "/v1/drivers"}, {"GET", "/v1/drivers/nearby/x"}, {"GET", "/favicon.ico"},
	}
	for _, c := range cases {
		got := do(t, c.method, base+c.path, "")
		if got.status < 400 || got.status > 499 {
			t.Errorf("%s %s: %s, want a 4xx", c.method, c.path, got)
			continue
		}
		wantError(t, c.method+" "+c.path, got, got.status, "")
	}
	// Nothing changed.
	if g := getRide(t, base, r.ID); g.Status != "matching" || g.Version != r.Version {
		t.Errorf("ride after the noise: %+v (was version %d)", g, r.Version)
	}
}

// TestHTTPRatingAbuse rates with bad stars and comments, on rides that are
// not completed, not the caller's or do not exist.
func TestHTTPRatingAbuse(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	r := requestRide(t, base, "alice")
	rate := func(id, who, body string) resp {
		return do(t, "POST", base+"/v1/rides/"+id+"/rating?"+who, body)
	}
	for _, body := range []string{
		`{}`, `{"stars":null}`, `{"stars":0}`, `{"stars":6}`, `{"stars":-1}`, `{"stars":4.5}`,
		`{"stars":"5"}`, `{"stars":true}`, `{"stars":1e100}`, `{"stars":99999999999999999999}`,
		`{"stars":5,"comment":5}`, `{"stars":5,"comment":"` + strings.Repeat("é", 501) + `"}`,
		``, `[5]`, `{"stars":5}{"stars":4}`, `{"stars":5`,
	} {
		wantError(t, "rating "+truncate(body, 40), rate(r.ID, "rider_id=alice", body), http.StatusBadRequest, "invalid_argument")
	}
	wantError(t, "rating an unfinished ride", rate(r.ID, "rider_id=alice", `{"stars":5}`), http.StatusConflict, "")
	wantError(t, "rating another's ride", rate(r.ID, "rider_id=mallory", `{"stars":1}`), http.StatusNotFound, "not_found")
	wantError(t, "rating by a stranger driver", rate(r.ID, "driver_id=dx", `{"stars":1}`), http.StatusNotFound, "not_found")
	wantError(t, "rating a missing ride", rate("nope", "rider_id=alice", `{"stars":5}`), http.StatusNotFound, "not_found")
	wantError(t, "anonymous rating", rate(r.ID, "", `{"stars":5}`), http.StatusUnauthorized, "unauthenticated")
	if g := getRide(t, base, r.ID); g.Version != r.Version || g.RiderRating != nil || g.DriverRating != nil {
		t.Errorf("ride changed by refused ratings: %+v", g)
	}
}

// TestHTTPIdentityAbuse sends rides with missing, empty and oversized ids
// in the open development mode.
func TestHTTPIdentityAbuse(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	wantError(t, "no rider_id", do(t, "POST", base+"/v1/rides", tripBody), http.StatusUnauthorized, "unauthenticated")
	wantError(t, "empty rider_id", do(t, "POST", base+"/v1/rides?rider_id=", tripBody), http.StatusUnauthorized, "unauthenticated")
	wantError(t, "driver as rider", do(t, "POST", base+"/v1/rides?driver_id=d1", tripBody), http.StatusUnauthorized, "unauthenticated")
	wantError(t, "129-byte rider_id", do(t, "POST", base+"/v1/rides?rider_id="+strings.Repeat("r", 129), tripBody), http.StatusUnauthorized, "unauthenticated")
	wantError(t, "256-byte Idempotency-Key", do(t, "POST", base+"/v1/rides?rider_id=a", tripBody, "Idempotency-Key", strings.Repeat("k", 256)), http.StatusBadRequest, "invalid_argument")
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 0 {
		t.Errorf("rides requested: %v", n)
	}
	// Unicode ids work and are echoed intact.
	r := requestRide(t, base, "zoë 🚕")
	if r.RiderID != "zoë 🚕" {
		t.Errorf("rider_id %q", r.RiderID)
	}
	k := strings.Repeat("k", 255)
	a := decodeRide(t, "255-byte key", do(t, "POST", base+"/v1/rides?rider_id=a", tripBody, "Idempotency-Key", k), http.StatusCreated)
	b := decodeRide(t, "255-byte key again", do(t, "POST", base+"/v1/rides?rider_id=a", tripBody, "Idempotency-Key", k), http.StatusCreated)
	if a.ID != b.ID {
		t.Errorf("same key, two rides: %s %s", a.ID, b.ID)
	}
	// The key is scoped to the rider.
	c := decodeRide(t, "same key other rider", do(t, "POST", base+"/v1/rides?rider_id=b", tripBody, "Idempotency-Key", k), http.StatusCreated)
	if c.ID == a.ID || c.RiderID != "b" {
		t.Errorf("idempotency key leaked across riders: %+v", c)
	}
}

// TestHTTPRateLimit checks the per-rider ride limit answers 429 and books
// nothing more.
func TestHTTPRateLimit(t *testing.T) {
	srv := start(t, server.Config{RidesPerHour: 3})
	base := srv.URL()
	for i := 0; i < 3; i++ {
		requestRide(t, base, "greedy")
	}
	wantError(t, "4th ride", do(t, "POST", base+"/v1/rides?rider_id=greedy", tripBody), http.StatusTooManyRequests, "rate_limited")
	requestRide(t, base, "modest")
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 4 {
		t.Errorf("rides requested: %v, want 4", n)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// TestHTTPMetricsCardinalityBounded: random paths do not create metric
// series (the route label is the pattern, not the path).
func TestHTTPMetricsCardinalityBounded(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	for i := 0; i < 100; i++ {
		do(t, "GET", fmt.Sprintf("%s/x%d/%d", base, i, i), "")
		do(t, "GET", fmt.Sprintf("%s/v1/rides/nope-%d", base, i), "")
	}
	m := do(t, "GET", base+"/metrics", "")
	series := 0
	for _, l := range strings.Split(string(m.body), "\n") {
		if strings.HasPrefix(l, "dispatch_http_requests_total{") {
			series++
		}
	}
	if series == 0 || series > 5 {
		t.Errorf("%d dispatch_http_requests_total series after 200 distinct paths", series)
	}
}
