package blackbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/server"
	"github.com/ridehail/dispatch/realtime"
)

// iterations scales the race loops; -short runs fewer.
func iterations(n int) int {
	if testing.Short() {
		return max(n/5, 2)
	}
	return n
}

// driverStatus returns a driver's status as a fresh connection's welcome
// tells it, and the new connection (which replaced the old one).
func driverStatus(t *testing.T, base, id string) (frame, *driver) {
	t.Helper()
	d := freshWelcome(t, base, id)
	return d.welcome, d
}

// TestRaceManyAccepts: ten drivers accept the same ride at the same
// instant, many times. Exactly one is assigned; every other gets exactly
// one offer_revoked (taken) and no error, and stays available.
func TestRaceManyAccepts(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	const n = 10
	ds := make([]*driver, n)
	for i := range ds {
		ds[i] = goOnline(t, base, fmt.Sprint("m", i), float64(50*(i+1)))
	}
	for it := 0; it < iterations(30); it++ {
		r := requestRide(t, base, fmt.Sprint("r", it))
		offers := make([]string, n)
		for i, d := range ds {
			offers[i] = d.awaitOffer(r.ID).OfferID
		}
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				_ = d.sendRaw(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"accept","offer_id":%q,"id":"acc"}`, offers[i])))
			}()
		}
		close(gate)
		wg.Wait()
		winner := -1
		for i, d := range ds {
			got := d.barrier()
			assigned, revoked := 0, 0
			for _, f := range got {
				switch {
				case f.Type == "assigned" && f.Ride != nil && f.Ride.ID == r.ID:
					assigned++
				case f.Type == "offer_revoked" && f.OfferID == offers[i]:
					revoked++
					if f.Reason != "taken" || f.RideID != r.ID {
						t.Errorf("it %d driver %d: %s", it, i, f.Raw)
					}
				default:
					t.Errorf("it %d driver %d: unexpected %s", it, i, f.Raw)
				}
			}
			switch {
			case assigned == 1 && revoked == 0:
				if winner >= 0 {
					t.Fatalf("it %d: drivers %d and %d both assigned", it, winner, i)
				}
				winner = i
			case assigned == 0 && revoked == 1:
			default:
				t.Fatalf("it %d driver %d: %d assigned, %d revoked: %v", it, i, assigned, revoked, raws(got))
			}
		}
		if winner < 0 {
			t.Fatalf("it %d: nobody won", it)
		}
		g := getRide(t, base, r.ID)
		if g.Status != "assigned" || g.DriverID != ds[winner].id {
			t.Fatalf("it %d: ride %+v, winner %s", it, g, ds[winner].id)
		}
		avail := nearbyIDs(t, base)
		for i, d := range ds {
			if _, ok := avail[d.id]; ok == (i == winner) {
				t.Errorf("it %d: driver %s available=%v (winner=%v)", it, d.id, ok, i == winner)
			}
		}
		// The winner's fresh connection is told the ride; its old one is
		// replaced with 4100.
		w, nd := driverStatus(t, base, ds[winner].id)
		if w.Status != "on_trip" || w.Ride == nil || w.Ride.ID != r.ID {
			t.Errorf("it %d: winner welcome %s", it, w.Raw)
		}
		if code := ds[winner].closeCode(); code != realtime.CloseReplaced {
			t.Errorf("it %d: replaced connection closed with %d", it, code)
		}
		nd.lastTS, nd.lat, nd.lon = ds[winner].lastTS, ds[winner].lat, ds[winner].lon
		ds[winner] = nd
		// Free the winner: the rider cancels.
		decodeRide(t, "cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id="+r.RiderID, ""), http.StatusOK)
		if f, _ := nd.await("ride_cancelled"); f.RideID != r.ID || f.By != "rider" {
			t.Fatalf("it %d: %s", it, f.Raw)
		}
		// Keep everyone fresh.
		for _, d := range ds {
			d.moveTo(d.lat, d.lon)
			if got := d.barrier(); len(got) != 0 {
				t.Fatalf("it %d: %s after the round: %v", it, d.id, raws(got))
			}
		}
		if got := len(nearby(t, base)); got != n {
			t.Fatalf("it %d: %d drivers available after the round, want %d", it, got, n)
		}
	}
}

// TestRaceAcceptVersusRiderCancel: a driver accepts while the rider
// cancels. Either the offer is revoked (cancelled) or the driver is
// assigned and then told ride_cancelled; the ride ends cancelled and the
// driver is free, never on a trip for a cancelled ride.
func TestRaceAcceptVersusRiderCancel(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "ac", 100)
	outcomes := map[string]int{}
	for it := 0; it < iterations(50); it++ {
		r := requestRide(t, base, fmt.Sprint("r", it))
		o := d.awaitOffer(r.ID)
		var wg sync.WaitGroup
		var cancel resp
		gate := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-gate
			_ = d.sendRaw(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"accept","offer_id":%q}`, o.OfferID)))
		}()
		go func() {
			defer wg.Done()
			<-gate
			cancel = do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id="+r.RiderID, "")
		}()
		close(gate)
		wg.Wait()
		if cancel.status != http.StatusOK {
			t.Fatalf("it %d: cancel %s", it, cancel)
		}
		got := d.barrier()
		kinds := ""
		for _, f := range got {
			kinds += f.Type + ";"
		}
		switch kinds {
		case "offer_revoked;":
			if got[0].Reason != "cancelled" {
				t.Errorf("it %d: %s", it, got[0].Raw)
			}
		case "assigned;ride_cancelled;":
			if got[1].By != "rider" || got[1].RideID != r.ID {
				t.Errorf("it %d: %s", it, got[1].Raw)
			}
		default:
			t.Fatalf("it %d: driver frames %v", it, raws(got))
		}
		outcomes[kinds]++
		if g := getRide(t, base, r.ID); g.Status != "cancelled" {
			t.Fatalf("it %d: ride %+v", it, g)
		}
		if _, ok := nearbyIDs(t, base)["ac"]; !ok {
			t.Fatalf("it %d: driver not available after %s", it, kinds)
		}
		d.moveTo(d.lat, d.lon)
	}
	w, _ := driverStatus(t, base, "ac")
	if w.Status != "available" || w.Ride != nil || w.Offer != nil {
		t.Errorf("welcome after the races: %s", w.Raw)
	}
	t.Logf("outcomes: %v", outcomes)
}

// TestRaceDisconnectWhileAccepting: a driver accepts and drops its TCP
// connection at once. Whether or not the accept landed, after the grace
// period the ride is matching again without that driver, and the driver,
// back, is available with no ride and is not offered that ride again.
func TestRaceDisconnectWhileAccepting(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{DisconnectGrace: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	for it := 0; it < iterations(15); it++ {
		id := fmt.Sprint("dc", it)
		d := goOnline(t, base, id, 100)
		r := requestRide(t, base, fmt.Sprint("r", it))
		o := d.awaitOffer(r.ID)
		o2version := getRide(t, base, r.ID).Version
		_ = d.sendRaw(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"accept","offer_id":%q}`, o.OfferID)))
		d.kill()
		// Version 2 is the ride with its pending offer; 3 and later mean
		// the offer was declined on disconnect, or won and then handed
		// back after the grace period.
		eventually(t, fmt.Sprint("it ", it, ": ride back to matching"), func() bool {
			g := getRide(t, base, r.ID)
			return g.Status == "matching" && g.DriverID == "" && g.Version > o2version
		})
		eventually(t, "driver offline", func() bool { _, ok := nearbyIDs(t, base)[id]; return !ok })
		back := dialDriver(t, base, id)
		if back.welcome.Status != "available" || back.welcome.Ride != nil || back.welcome.Offer != nil {
			t.Fatalf("it %d: welcome after coming back: %s", it, back.welcome.Raw)
		}
		back.moveTo(d.lat, d.lon)
		for _, f := range back.barrier() {
			if f.Type == "offer" && f.RideID == r.ID {
				t.Errorf("it %d: ride re-offered to the driver who vanished: %s", it, f.Raw)
			}
		}
		// Cancel the ride so it does not wait for a driver of a later round.
		decodeRide(t, "cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id="+r.RiderID, ""), http.StatusOK)
		back.close()
		// Only this iteration's driver may be offered the next ride: one
		// still closing would decline it on its way out, and that version
		// would pass for the next driver's decline.
		eventually(t, "driver gone after closing", func() bool { _, ok := nearbyIDs(t, base)[id]; return !ok })
	}
}

// TestRaceSameDriverTwice: two connections of one driver open at once.
// One survives, the other is closed with 4100; the driver stays available
// (the replaced connection does not take it offline), offers reach the
// survivor, and closing the survivor takes the driver offline.
func TestRaceSameDriverTwice(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	for it := 0; it < iterations(20); it++ {
		id := fmt.Sprint("twin", it)
		var conns [2]*driver
		var wg sync.WaitGroup
		for k := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, res, err := dialWS(t, base, "/v1/driver/ws?driver_id="+id, nil)
				if err != nil {
					t.Errorf("dial: %v %v", err, res)
					return
				}
				conns[k] = &driver{client: c, id: id}
			}()
		}
		wg.Wait()
		if conns[0] == nil || conns[1] == nil {
			t.FailNow()
		}
		for _, c := range conns {
			if w := c.next(); w.Type != "welcome" || w.Status != "available" {
				t.Fatalf("it %d: first frame %s", it, w.Raw)
			}
		}
		// Exactly one is replaced.
		var live *driver
		replaced := 0
		for _, c := range conns {
			if c.isOpen() {
				if live != nil {
					t.Fatalf("it %d: both connections open", it)
				}
				live = c
			} else {
				if code := c.closeCode(); code != realtime.CloseReplaced {
					t.Errorf("it %d: closed with %d, want %d", it, code, realtime.CloseReplaced)
				}
				replaced++
			}
		}
		if live == nil || replaced != 1 {
			t.Fatalf("it %d: live=%v replaced=%d", it, live != nil, replaced)
		}
		live.moveTo(pickupLat+0.001, pickupLon)
		live.barrier()
		if _, ok := nearbyIDs(t, base)[id]; !ok {
			t.Fatalf("it %d: driver not available after the replacement", it)
		}
		r := requestRide(t, base, fmt.Sprint("r", it))
		o := live.awaitOffer(r.ID)
		live.send(map[string]any{"type": "decline", "offer_id": o.OfferID})
		decodeRide(t, "cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id="+r.RiderID, ""), http.StatusOK)
		live.barrier()
		live.close()
		eventually(t, "driver offline after its last connection closed", func() bool { _, ok := nearbyIDs(t, base)[id]; return !ok })
	}
}

// TestRaceIdempotencyKey: the same request with the same Idempotency-Key,
// sent twenty times at once, books one ride.
func TestRaceIdempotencyKey(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	for it := 0; it < iterations(10); it++ {
		key := fmt.Sprint("key-", it)
		ids := make([]string, 20)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				r := do(t, "POST", base+"/v1/rides?rider_id=same", tripBody, "Idempotency-Key", key)
				if r.status != http.StatusCreated {
					t.Errorf("it %d: %s", it, r)
					return
				}
				var rd ride
				_ = json.Unmarshal(r.body, &rd)
				ids[i] = rd.ID
			}()
		}
		close(gate)
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] || id == "" {
				t.Fatalf("it %d: rides %v", it, ids)
			}
		}
		if n := metric(t, base, "dispatch_rides_requested_total"); n != float64(it+1) {
			t.Fatalf("it %d: rides requested %v", it, n)
		}
	}
}

// TestRaceRiderCancelVersusHandBack: the rider cancels while the driver
// hands the ride back. The ride ends cancelled, the driver free.
func TestRaceRiderCancelVersusHandBack(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "hb", 100)
	for it := 0; it < iterations(30); it++ {
		r := assign(t, base, d, fmt.Sprint("r", it))
		var wg sync.WaitGroup
		gate := make(chan struct{})
		var cancel resp
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-gate
			_ = d.sendRaw(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"cancel","ride_id":%q,"id":"hb"}`, r.ID)))
		}()
		go func() {
			defer wg.Done()
			<-gate
			cancel = do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id="+r.RiderID, "")
		}()
		close(gate)
		wg.Wait()
		if cancel.status != http.StatusOK {
			t.Fatalf("it %d: rider cancel %s", it, cancel)
		}
		got := d.barrier()
		if n := countType(got, "ride_cancelled"); n != 1 {
			t.Errorf("it %d: %d ride_cancelled: %v", it, n, raws(got))
		}
		for _, f := range got {
			if f.Type == "offer" && f.RideID == r.ID {
				t.Errorf("it %d: handed-back ride re-offered to the same driver: %s", it, f.Raw)
			}
		}
		if g := getRide(t, base, r.ID); g.Status != "cancelled" {
			t.Fatalf("it %d: ride %+v", it, g)
		}
		if _, ok := nearbyIDs(t, base)["hb"]; !ok {
			t.Fatalf("it %d: driver not available", it)
		}
		d.moveTo(d.lat, d.lon)
	}
}

// TestRaceStartVersusRiderCancel: the driver starts the trip while the
// rider cancels an arrived ride. Either the ride is cancelled and the
// driver free, or it is in progress (the cancel refused with 409) and the
// driver on it.
func TestRaceStartVersusRiderCancel(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "st", 100)
	for it := 0; it < iterations(30); it++ {
		r := assign(t, base, d, fmt.Sprint("r", it))
		if f := d.step("arrived", r.ID); f.Type != "ride" {
			t.Fatalf("arrived: %s", f.Raw)
		}
		var wg sync.WaitGroup
		gate := make(chan struct{})
		var cancel resp
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-gate
			_ = d.sendRaw(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"start","ride_id":%q,"id":"go"}`, r.ID)))
		}()
		go func() {
			defer wg.Done()
			<-gate
			cancel = do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id="+r.RiderID, "")
		}()
		close(gate)
		wg.Wait()
		d.barrier()
		g := getRide(t, base, r.ID)
		switch {
		case g.Status == "cancelled" && cancel.status == http.StatusOK:
			if _, ok := nearbyIDs(t, base)["st"]; !ok {
				t.Fatalf("it %d: driver not available after the cancel", it)
			}
		case g.Status == "in_progress" && cancel.status == http.StatusConflict:
			if _, ok := nearbyIDs(t, base)["st"]; ok {
				t.Fatalf("it %d: driver on a trip listed as available", it)
			}
			d.send(map[string]any{"type": "complete", "ride_id": r.ID})
		default:
			t.Fatalf("it %d: ride %s, cancel %s", it, g.Status, cancel)
		}
		d.moveTo(d.lat, d.lon)
		d.barrier()
	}
}
