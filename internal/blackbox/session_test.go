package blackbox_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/server"
	"github.com/ridehail/dispatch/realtime"
)

// TestWelcomeCarriesPendingOffer: a driver whose connection is replaced
// while an offer is pending finds the offer in the new welcome and can
// accept it there.
func TestWelcomeCarriesPendingOffer(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "phone", 100)
	r := requestRide(t, base, "alice")
	o := d.awaitOffer(r.ID)
	nd := freshWelcome(t, base, "phone")
	w := nd.welcome
	if w.Status != "reserved" || w.Offer == nil || w.Offer.OfferID != o.OfferID || w.Offer.RideID != r.ID {
		t.Fatalf("welcome of the new connection: %s", w.Raw)
	}
	if code := d.closeCode(); code != realtime.CloseReplaced {
		t.Errorf("old connection closed with %d", code)
	}
	nd.accept(o.OfferID, "acc")
	if f, _ := nd.await("assigned"); f.Ride.ID != r.ID {
		t.Fatalf("assigned: %s", f.Raw)
	}
}

// TestReconnectWithinGraceKeepsRide: a driver on a trip whose connection
// drops and comes back within the grace period keeps the ride (welcome
// carries it) and finishes the trip.
func TestReconnectWithinGraceKeepsRide(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{DisconnectGrace: time.Minute}})
	base := srv.URL()
	d := goOnline(t, base, "tunnel", 100)
	r := assign(t, base, d, "alice")
	d.kill()
	back := dialDriver(t, base, "tunnel")
	if w := back.welcome; w.Status != "on_trip" || w.Ride == nil || w.Ride.ID != r.ID || w.Ride.Status != "assigned" {
		t.Fatalf("welcome after a drop: %s", w.Raw)
	}
	for _, step := range []string{"arrived", "start", "complete"} {
		if f := back.step(step, r.ID); f.Type != "ride" {
			t.Fatalf("%s after reconnect: %s", step, f.Raw)
		}
	}
	if g := getRide(t, base, r.ID); g.Status != "completed" || g.DriverID != "tunnel" {
		t.Errorf("ride: %+v", g)
	}
}

// TestGraceExpiryRematches: a driver gone longer than the grace period
// loses an assigned ride, which goes back to matching and is offered to
// another driver; the rider is told.
func TestGraceExpiryRematches(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{DisconnectGrace: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	d := goOnline(t, base, "gone", 100)
	r := assign(t, base, d, "alice")
	rc, _ := dialRider(t, base, r.ID, "alice")
	d.kill()
	for {
		f, _ := rc.await("ride")
		if f.Ride.Status == "matching" {
			if f.Ride.DriverID != "" {
				t.Errorf("rematched ride keeps driver: %s", f.Raw)
			}
			break
		}
	}
	d2 := goOnline(t, base, "next", 150)
	o := d2.awaitOffer(r.ID)
	d2.accept(o.OfferID, "a")
	if f, _ := d2.await("assigned"); f.Ride.DriverID != "next" {
		t.Fatalf("assigned: %s", f.Raw)
	}
	back := dialDriver(t, base, "gone")
	if w := back.welcome; w.Status != "available" || w.Ride != nil {
		t.Errorf("welcome of the driver who lost the ride: %s", w.Raw)
	}
}

// TestDriverLocationForwarding: the rider sees the driver's fixes (with
// an ETA) while a driver is assigned or on the trip, and none after the
// ride ends.
func TestDriverLocationForwarding(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "fwd", 500)
	r := assign(t, base, d, "alice")
	rc, _ := dialRider(t, base, r.ID, "alice")
	d.moveTo(d.lat-0.0002, pickupLon)
	d.barrier()
	f, _ := rc.await("driver_location")
	if f.RideID != r.ID || math.Abs(f.Lat-d.lat) > 1e-9 {
		t.Errorf("driver_location: %s", f.Raw)
	}
	var eta struct {
		ETA *float64 `json:"eta_s"`
		TS  int64    `json:"ts"`
	}
	if err := jsonUnmarshal([]byte(f.Raw), &eta); err != nil || eta.ETA == nil || *eta.ETA <= 0 || eta.TS != d.lastTS {
		t.Errorf("driver_location fields: %s", f.Raw)
	}
	decodeRide(t, "cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id=alice", ""), http.StatusOK)
	if f, _ := d.await("ride_cancelled"); f.By != "rider" {
		t.Fatalf("ride_cancelled: %s", f.Raw)
	}
	for {
		f, _ := rc.await("ride")
		if f.Ride.Status == "cancelled" {
			break
		}
	}
	// Fixes after the cancel reach nobody.
	d.moveTo(d.lat-0.0002, pickupLon)
	d.barrier()
	rc.send(`{"type":"probe","id":"p"}`)
	for {
		f := rc.next()
		if f.Type == "driver_location" {
			t.Errorf("fix forwarded after the ride was cancelled: %s", f.Raw)
		}
		if f.ref() == "p" {
			break
		}
	}
}

// TestOfflineDuringTripTakesEffectAfter: "offline" during a trip keeps the
// trip going and takes the driver offline when it ends.
func TestOfflineDuringTripTakesEffectAfter(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	d := goOnline(t, base, "tired", 100)
	r := assign(t, base, d, "alice")
	d.send(`{"type":"status","status":"offline","id":"off"}`)
	if got := d.barrier(); len(got) != 0 {
		t.Errorf("offline during a trip answered: %v", raws(got))
	}
	for _, step := range []string{"arrived", "start", "complete"} {
		if f := d.step(step, r.ID); f.Type != "ride" {
			t.Fatalf("%s: %s", step, f.Raw)
		}
	}
	d.moveTo(d.lat, d.lon)
	d.barrier()
	if _, ok := nearbyIDs(t, base)["tired"]; ok {
		t.Errorf("driver who asked to go offline is available after the trip")
	}
	r2 := requestRide(t, base, "bob")
	other := goOnline(t, base, "fresh", 300)
	other.awaitOffer(r2.ID)
	for _, f := range d.barrier() {
		if f.Type == "offer" {
			t.Errorf("offline driver offered: %s", f.Raw)
		}
	}
}

// TestStaleDriverNotListedNorOffered: a driver whose last fix is older
// than the freshness window is neither listed nor offered, until it sends
// a fix again.
func TestStaleDriverNotListedNorOffered(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{StaleAfter: 300 * time.Millisecond, SweepInterval: 50 * time.Millisecond, RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	d := goOnline(t, base, "quiet", 100)
	eventually(t, "stale driver dropped from nearby", func() bool { _, ok := nearbyIDs(t, base)["quiet"]; return !ok })
	r := requestRide(t, base, "alice")
	if got := d.barrier(); countType(got, "offer") != 0 {
		t.Errorf("stale driver offered: %v", raws(got))
	}
	d.moveTo(d.lat, d.lon)
	d.awaitOffer(r.ID)
}

// TestOneDriverManyRides: with one driver and several simultaneous
// requests, the driver holds at most one offer at a time, and none while
// on a trip.
func TestOneDriverManyRides(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{RetryInterval: 20 * time.Millisecond}})
	base := srv.URL()
	d := goOnline(t, base, "solo", 100)
	const n = 5
	rides := make([]ride, n)
	var wg sync.WaitGroup
	for i := range rides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rides[i] = requestRide(t, base, fmt.Sprint("r", i))
		}()
	}
	wg.Wait()
	o, _ := d.await("offer")
	// Hold the offer while the other rides retry: no second offer.
	eventually(t, "other rides retried", func() bool {
		for _, r := range rides {
			if r.ID != o.RideID && getRide(t, base, r.ID).Version < 4 {
				return false
			}
		}
		return true
	})
	if got := d.barrier(); countType(got, "offer") != 0 {
		t.Fatalf("second offer while reserved: %v", raws(got))
	}
	d.accept(o.OfferID, "a")
	d.await("assigned")
	if got := d.barrier(); countType(got, "offer") != 0 {
		t.Fatalf("offer while on a trip: %v", raws(got))
	}
	if n := metric(t, base, "dispatch_offers_sent_total"); n != 1 {
		t.Errorf("offers sent: %v, want 1", n)
	}
	var skipped []frame
	for _, s := range []string{"arrived", "start", "complete"} {
		f, before := d.stepAll(s, o.RideID)
		if f.Type != "ride" {
			t.Fatalf("%s: %s", s, f.Raw)
		}
		skipped = append(skipped, before...)
	}
	// Free again: the next ride is offered.
	var next frame
	for _, f := range skipped {
		if f.Type == "offer" {
			next = f
		}
	}
	if next.Type == "" {
		next, _ = d.await("offer")
	}
	if next.RideID == o.RideID {
		t.Errorf("completed ride offered again")
	}
}

// TestStressNoDoubleAssignment: many drivers that accept every offer at
// once, many rides requested at once. Every ride ends with at most one
// driver, no driver holds two rides, and every assigned driver was told.
func TestStressNoDoubleAssignment(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{OfferCount: 4, RetryInterval: 20 * time.Millisecond}})
	base := srv.URL()
	const nd, nr = 12, 10
	ds := make([]*driver, nd)
	for i := range ds {
		ds[i] = goOnline(t, base, fmt.Sprint("s", i), float64(40*(i+1)))
	}
	// Each driver accepts every offer as soon as it sees it, and records
	// the rides it was assigned.
	ctx, stop := context.WithCancel(context.Background())
	assigned := make([][]string, nd)
	var told atomic.Int64
	var awg sync.WaitGroup
	for i, d := range ds {
		awg.Add(1)
		go func() {
			defer awg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case f, ok := <-d.frames:
					if !ok {
						return
					}
					switch f.Type {
					case "offer":
						_ = d.sendRaw(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"accept","offer_id":%q}`, f.OfferID)))
					case "assigned":
						assigned[i] = append(assigned[i], f.Ride.ID)
						told.Add(1)
					case "error":
						t.Errorf("driver %d: %s", i, f.Raw)
					}
				}
			}
		}()
	}
	rides := make([]ride, nr)
	var wg sync.WaitGroup
	for i := range rides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rides[i] = requestRide(t, base, fmt.Sprint("r", i))
		}()
	}
	wg.Wait()
	eventually(t, "every ride assigned and its driver told", func() bool {
		if told.Load() < nr {
			return false
		}
		for _, r := range rides {
			if getRide(t, base, r.ID).Status != "assigned" {
				return false
			}
		}
		return true
	})
	stop()
	awg.Wait()
	for i, d := range ds {
		for _, f := range d.barrier() {
			if f.Type == "assigned" {
				assigned[i] = append(assigned[i], f.Ride.ID)
			}
		}
	}
	owner := map[string]string{}
	for i, ids := range assigned {
		if len(ids) > 1 {
			t.Errorf("driver %d assigned %d rides: %v", i, len(ids), ids)
		}
		for _, id := range ids {
			if prev, ok := owner[id]; ok {
				t.Errorf("ride %s assigned to %s and %s", id, prev, ds[i].id)
			}
			owner[id] = ds[i].id
		}
	}
	for _, r := range rides {
		if g := getRide(t, base, r.ID); owner[r.ID] != g.DriverID {
			t.Errorf("ride %s: driver %q, told %q", r.ID, g.DriverID, owner[r.ID])
		}
	}
	if got := len(nearby(t, base)); got != nd-nr {
		t.Errorf("%d drivers available, want %d", got, nd-nr)
	}
}

// TestRaceAcceptVersusExpiry: accepts landing around the offer's expiry.
// Each ends either assigned (no revoke) or revoked as expired (no
// assignment), never both and never neither.
func TestRaceAcceptVersusExpiry(t *testing.T) {
	const timeout = 60 * time.Millisecond
	srv := start(t, server.Config{Engine: dispatch.Config{OfferTimeout: timeout, TickInterval: 5 * time.Millisecond, RetryInterval: time.Hour}})
	base := srv.URL()
	d := goOnline(t, base, "edge", 100)
	outcomes := map[string]int{}
	for it := 0; it < iterations(30); it++ {
		r := requestRide(t, base, fmt.Sprint("r", it))
		o := d.awaitOffer(r.ID)
		// Aim the accept at the expiry instant, a little before or after
		// (this wait aims at the race window; it synchronises nothing).
		aim := time.UnixMilli(o.ExpireAt).Add(time.Duration(it%7-3) * 2 * time.Millisecond)
		time.Sleep(time.Until(aim))
		d.accept(o.OfferID, "edge")
		// Wait until the offer is resolved one way or the other.
		var got []frame
		for countType(got, "assigned")+countType(got, "offer_revoked") == 0 {
			got = append(got, d.next())
		}
		got = append(got, d.barrier()...)
		kinds := ""
		for _, f := range got {
			kinds += f.Type + ";"
		}
		outcomes[kinds]++
		g := getRide(t, base, r.ID)
		switch kinds {
		case "assigned;":
			if g.Status != "assigned" || g.DriverID != "edge" {
				t.Fatalf("it %d: assigned but ride %+v", it, g)
			}
			decodeRide(t, "cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id="+r.RiderID, ""), http.StatusOK)
			d.await("ride_cancelled")
		case "offer_revoked;":
			if g.Status != "matching" || g.DriverID != "" {
				t.Fatalf("it %d: revoked but ride %+v", it, g)
			}
			decodeRide(t, "cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id="+r.RiderID, ""), http.StatusOK)
		default:
			t.Fatalf("it %d: frames %v", it, raws(got))
		}
		if _, ok := nearbyIDs(t, base)["edge"]; !ok {
			t.Fatalf("it %d: driver not available after %s", it, kinds)
		}
		d.moveTo(d.lat, d.lon)
		d.barrier()
	}
	t.Logf("outcomes: %v", outcomes)
}

// TestShutdownClosesSockets: a graceful shutdown closes every socket with
// 1001 (reconnect), and refuses new connections.
func TestShutdownClosesSockets(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "bye", 100)
	r := requestRide(t, base, "alice")
	d.awaitOffer(r.ID)
	rc, _ := dialRider(t, base, r.ID, "alice")
	httpClient.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if code := d.closeCode(); code != realtime.CloseGoingAway {
		t.Errorf("driver closed with %d, want 1001", code)
	}
	if code := rc.closeCode(); code != realtime.CloseGoingAway {
		t.Errorf("rider closed with %d, want 1001", code)
	}
	if !realtime.ShouldReconnect(realtime.CloseGoingAway) {
		t.Errorf("1001 must mean reconnect")
	}
	if _, res, err := dialWS(t, base, "/v1/driver/ws?driver_id=late", nil); err == nil {
		t.Errorf("connection accepted after shutdown")
	} else if res != nil && res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after shutdown: %d, want 503 or a refused connection", res.StatusCode)
	}
}
