package blackbox_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/server"
)

// TestSequentialPolicy: one driver at a time, nearest first; a decline or
// an expiry moves to the next; nobody is offered the ride twice.
func TestSequentialPolicy(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{Policy: "sequential", OfferTimeout: 200 * time.Millisecond, RetryInterval: time.Hour}})
	base := srv.URL()
	near := goOnline(t, base, "near", 100)
	mid := goOnline(t, base, "mid", 200)
	far := goOnline(t, base, "far", 300)
	r := requestRide(t, base, "alice")
	o1 := near.awaitOffer(r.ID)
	for _, d := range []*driver{mid, far} {
		if got := d.barrier(); countType(got, "offer") != 0 {
			t.Fatalf("%s offered while the nearest holds the offer: %v", d.id, raws(got))
		}
	}
	near.send(map[string]any{"type": "decline", "offer_id": o1.OfferID})
	mid.awaitOffer(r.ID)
	if got := far.barrier(); countType(got, "offer") != 0 {
		t.Fatalf("far offered while mid holds the offer: %v", raws(got))
	}
	// mid lets it expire; far gets it and accepts.
	if f, _ := mid.await("offer_revoked"); f.Reason != "expired" {
		t.Fatalf("mid: %s", f.Raw)
	}
	o3 := far.awaitOffer(r.ID)
	far.accept(o3.OfferID, "a")
	if f, _ := far.await("assigned"); f.Ride.DriverID != "far" {
		t.Fatalf("assigned: %s", f.Raw)
	}
	for _, d := range []*driver{near, mid} {
		for _, f := range d.barrier() {
			if f.Type == "offer" {
				t.Errorf("%s offered the ride again: %s", d.id, f.Raw)
			}
		}
	}
	if n := metric(t, base, "dispatch_offers_sent_total"); n != 3 {
		t.Errorf("offers sent: %v, want 3", n)
	}
}

// TestManyFollowers: every rider connection following a ride gets its
// updates; a completed ride's snapshot carries the final fare.
func TestManyFollowers(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "f", 100)
	r := requestRide(t, base, "alice")
	phone, _ := dialRider(t, base, r.ID, "alice")
	tablet, _ := dialRider(t, base, r.ID, "alice")
	o := d.awaitOffer(r.ID)
	d.accept(o.OfferID, "a")
	d.await("assigned")
	for _, c := range []*client{phone, tablet} {
		if f, _ := c.await("ride"); f.Ride.Status != "assigned" {
			t.Errorf("follower: %s", f.Raw)
		}
	}
	for _, s := range []string{"arrived", "start", "complete"} {
		d.step(s, r.ID)
	}
	_, snap := dialRider(t, base, r.ID, "alice")
	if snap.Ride.Status != "completed" || snap.Ride.FinalFare == nil || snap.Ride.FinalFare.Amount <= 0 {
		t.Errorf("snapshot of a completed ride: %s", snap.Raw)
	}
}

// fakeClock is a wall clock that can be pushed forward.
type fakeClock struct{ ahead atomic.Int64 }

func (c *fakeClock) Now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }

// TestExpiredQuoteRefused: a quote older than 5 minutes no longer books.
func TestExpiredQuoteRefused(t *testing.T) {
	clk := &fakeClock{}
	srv := start(t, server.Config{Clock: clk})
	base := srv.URL()
	q := do(t, "POST", base+"/v1/quotes", tripBody)
	var quote struct {
		QuoteID   string `json:"quote_id"`
		ExpiresAt int64  `json:"expires_at"`
	}
	if q.status != 200 || jsonUnmarshal(q.body, &quote) != nil {
		t.Fatalf("quote: %s", q)
	}
	if d := time.UnixMilli(quote.ExpiresAt).Sub(clk.Now()); d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("quote expires in %v, want about 5 min", d)
	}
	clk.ahead.Store(int64(5*time.Minute + time.Second))
	body := fmt.Sprintf(`{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712},"quote_id":%q}`, quote.QuoteID)
	wantError(t, "expired quote", do(t, "POST", base+"/v1/rides?rider_id=a", body), http.StatusBadRequest, "invalid_argument")
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 0 {
		t.Errorf("rides requested: %v", n)
	}
}

// TestNearbyGeoEdges: the antimeridian, the poles (up to the GEO limit),
// identical points (ties by id) and limit, through the wire; and a ride
// across the antimeridian is offered to the driver on the other side.
func TestNearbyGeoEdges(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	place := func(id string, lat, lon float64) *driver {
		d := dialDriver(t, base, id)
		d.send(fmt.Sprintf(`{"type":"location","lat":%v,"lon":%v,"ts":%d}`, lat, lon, time.Now().UnixMilli()))
		if got := d.barrier(); len(got) != 0 {
			t.Fatalf("%s fix at (%v, %v): %v", id, lat, lon, raws(got))
		}
		return d
	}
	east := place("east", 10, 179.9999)
	place("west", 10, -179.9999)
	place("north", 85.05, 0)
	place("north2", 85.05, 180)
	place("south", -85.05, 0.2)
	place("south2", -85.0, -0.3)
	place("b", 0, 0.001)
	place("a", 0, 0.001)
	type hit struct {
		id string
		m  float64
	}
	cases := []struct {
		q    string
		want []hit
	}{
		{"lat=10&lon=179.99995&radius_m=50", []hit{{"east", 5.5}, {"west", 16.4}}},
		{"lat=10&lon=-179.99995&radius_m=50", []hit{{"west", 5.5}, {"east", 16.4}}},
		{"lat=85.3&lon=0&radius_m=50000", []hit{{"north", 27798.8}}},
		{"lat=85.05&lon=-179.99&radius_m=50000", []hit{{"north2", 95.9}}},
		{"lat=89.9&lon=0&radius_m=50000", nil},
		{"lat=-85.05&lon=0&radius_m=50000", []hit{{"south", 1918.9}, {"south2", 6267.3}}},
		{"lat=0&lon=0.001&radius_m=10", []hit{{"a", 0}, {"b", 0}}},
		{"lat=0&lon=0&radius_m=200&limit=1", []hit{{"a", 111.2}}},
	}
	for _, c := range cases {
		r := do(t, "GET", base+"/v1/drivers/nearby?"+c.q, "")
		var out struct {
			Drivers []nearbyDriver `json:"drivers"`
		}
		if r.status != 200 || jsonUnmarshal(r.body, &out) != nil {
			t.Fatalf("%s: %s", c.q, r)
		}
		var got []hit
		for _, d := range out.Drivers {
			got = append(got, hit{d.ID, d.DistanceM})
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.q, got, c.want)
		}
	}
	body := `{"pickup":{"lat":10,"lon":-179.99995},"dropoff":{"lat":10.01,"lon":179.99}}`
	r := decodeRide(t, "ride across the antimeridian", do(t, "POST", base+"/v1/rides?rider_id=dateline", body), http.StatusCreated)
	if r.Fare.Amount <= 0 {
		t.Errorf("fare: %+v", r.Fare)
	}
	if o := east.awaitOffer(r.ID); o.OfferID == "" {
		t.Errorf("offer: %s", o.Raw)
	}
}
