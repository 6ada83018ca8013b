package blackbox_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/server"
)

// accept sends an accept for offerID with frame id ref.
func (d *driver) accept(offerID, ref string) {
	d.send(map[string]any{"type": "accept", "offer_id": offerID, "id": ref})
}

// step sends a trip step (arrived, start, complete, cancel) and returns
// the reply.
func (d *driver) step(typ, rideID string) frame {
	d.t.Helper()
	f, _ := d.stepAll(typ, rideID)
	return f
}

// stepAll is step that also returns the frames received before the reply.
func (d *driver) stepAll(typ, rideID string) (frame, []frame) {
	d.t.Helper()
	id := fmt.Sprintf("%s-%d", typ, d.syncN.Add(1))
	d.send(map[string]any{"type": typ, "ride_id": rideID, "id": id})
	var before []frame
	for {
		f := d.next()
		if (f.Type == "ride" || f.Type == "error") && f.ref() == id {
			return f, before
		}
		before = append(before, f)
	}
}

// assign books a ride for rider and has d win it.
func assign(t *testing.T, base string, d *driver, rider string) ride {
	t.Helper()
	r := requestRide(t, base, rider)
	o := d.awaitOffer(r.ID)
	d.accept(o.OfferID, "acc")
	a, _ := d.await("assigned")
	if a.Ride == nil || a.Ride.ID != r.ID || a.Ride.Status != "assigned" || a.Ride.DriverID != d.id {
		t.Fatalf("assigned: %s", a.Raw)
	}
	return *a.Ride
}

func asRider(id string) string  { return "rider_id=" + url.QueryEscape(id) }
func asDriver(id string) string { return "driver_id=" + url.QueryEscape(id) }

// TestOwnership: nobody acts on a ride or an offer that is not theirs, and
// such attempts change nothing.
func TestOwnership(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	a := goOnline(t, base, "owner", 100)
	b := goOnline(t, base, "thief", 200)
	r := requestRide(t, base, "alice")
	oa := a.awaitOffer(r.ID)
	ob := b.awaitOffer(r.ID)
	if oa.OfferID == ob.OfferID {
		t.Fatalf("two drivers share offer id %s", oa.OfferID)
	}
	// b accepts a's offer.
	b.accept(oa.OfferID, "steal")
	got := b.barrier()
	if len(got) != 1 || got[0].Code != "not_found" || got[0].ref() != "steal" {
		t.Errorf("accepting another's offer: %v", raws(got))
	}
	// b declines a's offer.
	b.send(map[string]any{"type": "decline", "offer_id": oa.OfferID, "id": "dec"})
	if got := b.barrier(); len(got) != 1 || got[0].Code != "not_found" {
		t.Errorf("declining another's offer: %v", raws(got))
	}
	if got := a.barrier(); len(got) != 0 {
		t.Errorf("the owner was told something: %v", raws(got))
	}
	if g := getRide(t, base, r.ID); g.Status != "matching" || g.DriverID != "" || g.Version != r.Version {
		t.Fatalf("ride after foreign accept/decline: %+v (was %+v)", g, r)
	}
	// a's offer still works.
	a.accept(oa.OfferID, "mine")
	if f, _ := a.await("assigned"); f.Ride.DriverID != "owner" {
		t.Fatalf("assigned: %s", f.Raw)
	}
	if f, _ := b.await("offer_revoked"); f.OfferID != ob.OfferID || f.Reason != "taken" {
		t.Fatalf("b's revoke: %s", f.Raw)
	}
	before := getRide(t, base, r.ID)
	// b steps and cancels a ride it does not hold.
	for _, typ := range []string{"arrived", "start", "complete", "cancel"} {
		if f := b.step(typ, r.ID); f.Type != "error" || f.Code != "not_found" {
			t.Errorf("thief %s: %s", typ, f.Raw)
		}
	}
	// Strangers over HTTP.
	wantError(t, "stranger rider GET", do(t, "GET", base+"/v1/rides/"+r.ID+"?"+asRider("mallory"), ""), 404, "not_found")
	wantError(t, "stranger driver GET", do(t, "GET", base+"/v1/rides/"+r.ID+"?"+asDriver("thief"), ""), 404, "not_found")
	wantError(t, "stranger rider cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?"+asRider("mallory"), ""), 404, "not_found")
	wantError(t, "stranger driver hand-back", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?"+asDriver("thief"), ""), 404, "not_found")
	wantError(t, "stranger rating", do(t, "POST", base+"/v1/rides/"+r.ID+"/rating?"+asRider("mallory"), `{"stars":1}`), 404, "not_found")
	wantError(t, "missing ride", do(t, "GET", base+"/v1/rides/"+r.ID+"x?"+asRider("alice"), ""), 404, "not_found")
	_, res, err := dialWS(t, base, "/v1/rider/ws?ride_id="+r.ID+"&"+asRider("mallory"), nil)
	handshakeError(t, "stranger follows", res, err, 404, "not_found")
	if g := getRide(t, base, r.ID); g.Version != before.Version || g.Status != "assigned" || g.DriverID != "owner" {
		t.Fatalf("ride changed by strangers: %+v", g)
	}
	// The owners see it.
	decodeRide(t, "rider GET", do(t, "GET", base+"/v1/rides/"+r.ID+"?"+asRider("alice"), ""), 200)
	decodeRide(t, "driver GET", do(t, "GET", base+"/v1/rides/"+r.ID+"?"+asDriver("owner"), ""), 200)
	// b is still available, a is not.
	n := nearbyIDs(t, base)
	if _, ok := n["thief"]; !ok {
		t.Errorf("thief not available: %+v", n)
	}
	if _, ok := n["owner"]; ok {
		t.Errorf("assigned driver listed as available: %+v", n)
	}
}

// TestTripStateMachine drives a trip with every out-of-order, repeated and
// late step, checking each refusal changes nothing and the rider sees
// every status once, in order.
func TestTripStateMachine(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "sm", 100)
	r := requestRide(t, base, "alice")
	rc, snap := dialRider(t, base, r.ID, "alice")
	if snap.Ride.Status != "matching" {
		t.Fatalf("snapshot: %s", snap.Raw)
	}
	o := d.awaitOffer(r.ID)
	// Steps before holding the ride.
	for _, typ := range []string{"arrived", "start", "complete", "cancel"} {
		if f := d.step(typ, r.ID); f.Code != "not_found" {
			t.Errorf("%s before accept: %s", typ, f.Raw)
		}
	}
	d.accept(o.OfferID, "acc1")
	if f, _ := d.await("assigned"); f.Ride.ID != r.ID {
		t.Fatalf("assigned: %s", f.Raw)
	}
	// Double accept: no second assignment, no error, no change.
	v := getRide(t, base, r.ID).Version
	d.accept(o.OfferID, "acc2")
	if got := d.barrier(); len(got) != 0 {
		t.Errorf("double accept answered: %v", raws(got))
	}
	check := func(what, status string, version int64) {
		t.Helper()
		g := getRide(t, base, r.ID)
		if g.Status != status || (version > 0 && g.Version != version) {
			t.Errorf("%s: ride %s v%d, want %s v%d", what, g.Status, g.Version, status, version)
		}
	}
	check("after double accept", "assigned", v)
	for _, typ := range []string{"start", "complete"} {
		if f := d.step(typ, r.ID); f.Code != "failed_precondition" {
			t.Errorf("%s while assigned: %s", typ, f.Raw)
		}
	}
	wantError(t, "rating while assigned", do(t, "POST", base+"/v1/rides/"+r.ID+"/rating?"+asRider("alice"), `{"stars":5}`), 409, "")
	check("after refused steps", "assigned", v)

	f := d.step("arrived", r.ID)
	if f.Type != "ride" || f.Ride.Status != "arrived" {
		t.Fatalf("arrived: %s", f.Raw)
	}
	v = f.Ride.Version
	if f := d.step("arrived", r.ID); f.Type != "ride" || f.Ride.Status != "arrived" || f.Ride.Version != v {
		t.Errorf("arrived retried: %s", f.Raw)
	}
	if f := d.step("complete", r.ID); f.Code != "failed_precondition" {
		t.Errorf("complete while arrived: %s", f.Raw)
	}
	if f = d.step("start", r.ID); f.Type != "ride" || f.Ride.Status != "in_progress" {
		t.Fatalf("start: %s", f.Raw)
	}
	v = f.Ride.Version
	// Nobody cancels a trip in progress.
	wantError(t, "rider cancel in progress", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?"+asRider("alice"), ""), 409, "failed_precondition")
	wantError(t, "driver hand-back in progress", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?"+asDriver("sm"), ""), 409, "failed_precondition")
	if f := d.step("cancel", r.ID); f.Code != "failed_precondition" {
		t.Errorf("ws cancel in progress: %s", f.Raw)
	}
	if f := d.step("arrived", r.ID); f.Code != "failed_precondition" {
		t.Errorf("arrived while in progress: %s", f.Raw)
	}
	check("after refusals in progress", "in_progress", v)

	d.send(map[string]any{"type": "complete", "ride_id": r.ID, "distance_m": 5230.5, "id": "done"})
	f, _ = d.await("ride")
	if f.ref() != "done" || f.Ride.Status != "completed" || f.Ride.FinalFare == nil || f.Ride.FinalFare.Amount <= 0 {
		t.Fatalf("complete: %s", f.Raw)
	}
	v = f.Ride.Version
	if f := d.step("complete", r.ID); f.Type != "ride" || f.Ride.Version != v {
		t.Errorf("complete retried: %s", f.Raw)
	}
	for _, typ := range []string{"arrived", "start", "cancel"} {
		if f := d.step(typ, r.ID); f.Code != "failed_precondition" {
			t.Errorf("%s after completion: %s", typ, f.Raw)
		}
	}
	wantError(t, "rider cancel completed", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?"+asRider("alice"), ""), 409, "failed_precondition")
	check("after late steps", "completed", v)

	// Ratings: once per side.
	rr := decodeRide(t, "rider rates", do(t, "POST", base+"/v1/rides/"+r.ID+"/rating?"+asRider("alice"), `{"stars":5,"comment":"  great  "}`), 200)
	if rr.RiderRating == nil || rr.RiderRating.Stars != 5 || rr.Version != v+1 {
		t.Errorf("rider rating: %+v", rr)
	}
	wantError(t, "rider rates twice", do(t, "POST", base+"/v1/rides/"+r.ID+"/rating?"+asRider("alice"), `{"stars":1}`), 409, "")
	dr := decodeRide(t, "driver rates", do(t, "POST", base+"/v1/rides/"+r.ID+"/rating?"+asDriver("sm"), `{"stars":4}`), 200)
	if dr.DriverRating == nil || dr.DriverRating.Stars != 4 || dr.RiderRating == nil || dr.RiderRating.Stars != 5 {
		t.Errorf("driver rating: %+v", dr)
	}
	wantError(t, "driver rates twice", do(t, "POST", base+"/v1/rides/"+r.ID+"/rating?"+asDriver("sm"), `{"stars":2}`), 409, "")
	if g := getRide(t, base, r.ID); g.RiderRating.Stars != 5 || g.DriverRating.Stars != 4 || g.Version != dr.Version {
		t.Errorf("ratings overwritten: %+v", g)
	}

	// The rider saw each status once, in order, with growing versions.
	want := []string{"assigned", "arrived", "in_progress", "completed"}
	var seen []string
	last := snap.Ride.Version
	for len(seen) < len(want) {
		f, _ := rc.await("ride")
		if f.Ride.Version < last {
			t.Errorf("rider got version %d after %d", f.Ride.Version, last)
		}
		if f.Ride.Version == last {
			continue // a repeat of the snapshot state is allowed
		}
		last = f.Ride.Version
		seen = append(seen, f.Ride.Status)
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("rider saw %v, want %v", seen, want)
	}
	// The driver is free again.
	eventually(t, "driver available after the trip", func() bool { _, ok := nearbyIDs(t, base)["sm"]; return ok })
	if w := freshWelcome(t, base, "sm").welcome; w.Status != "available" || w.Ride != nil || w.Offer != nil {
		t.Errorf("welcome after the trip: %s", w.Raw)
	}
}

// TestAcceptAfterCancel: the rider cancels while the offer is pending; the
// driver's offer is revoked (cancelled) once, a late accept changes
// nothing and gets no reply.
func TestAcceptAfterCancel(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "late", 100)
	r := requestRide(t, base, "alice")
	o := d.awaitOffer(r.ID)
	c := decodeRide(t, "cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?"+asRider("alice"), ""), 200)
	if c.Status != "cancelled" || c.CancelledBy != "rider" {
		t.Fatalf("cancel: %+v", c)
	}
	d.accept(o.OfferID, "late")
	got := d.barrier()
	if len(got) != 1 || got[0].Type != "offer_revoked" || got[0].Reason != "cancelled" || got[0].OfferID != o.OfferID {
		t.Errorf("frames after cancel + accept: %v, want one offer_revoked cancelled", raws(got))
	}
	// Cancel twice: same ride, nothing changes.
	c2 := decodeRide(t, "cancel again", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?"+asRider("alice"), ""), 200)
	if c2.Status != "cancelled" || c2.Version != c.Version {
		t.Errorf("second cancel: %+v (first %+v)", c2, c)
	}
	if g := getRide(t, base, r.ID); g.Status != "cancelled" || g.DriverID != "" || g.Version != c.Version {
		t.Errorf("ride: %+v", g)
	}
	if _, ok := nearbyIDs(t, base)["late"]; !ok {
		t.Errorf("driver not available after a cancelled offer")
	}
	if w := freshWelcome(t, base, "late").welcome; w.Status != "available" || w.Offer != nil || w.Ride != nil {
		t.Errorf("welcome: %s", w.Raw)
	}
}

// TestAcceptAfterExpiry: an offer that timed out is revoked (expired)
// once; the late accept changes nothing; the driver is not offered the
// ride again.
func TestAcceptAfterExpiry(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{OfferTimeout: 300 * time.Millisecond, RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	d := goOnline(t, base, "slow", 100)
	r := requestRide(t, base, "alice")
	o := d.awaitOffer(r.ID)
	rv, skipped := d.await("offer_revoked")
	if rv.OfferID != o.OfferID || rv.Reason != "expired" || len(skipped) != 0 {
		t.Fatalf("revoke: %s (after %v)", rv.Raw, raws(skipped))
	}
	d.accept(o.OfferID, "late")
	if got := d.barrier(); len(got) != 0 {
		t.Errorf("late accept answered: %v", raws(got))
	}
	g := getRide(t, base, r.ID)
	if g.Status != "matching" || g.DriverID != "" {
		t.Errorf("ride after a late accept: %+v", g)
	}
	if _, ok := nearbyIDs(t, base)["slow"]; !ok {
		t.Errorf("driver not available after its offer expired")
	}
	// A second driver gets the ride; the first is never re-offered it.
	d2 := goOnline(t, base, "fast", 150)
	o2 := d2.awaitOffer(r.ID)
	d2.accept(o2.OfferID, "a")
	d2.await("assigned")
	for _, f := range d.barrier() {
		if f.Type == "offer" && f.RideID == r.ID {
			t.Errorf("expired driver re-offered the ride: %s", f.Raw)
		}
	}
}

// TestDeclineThenAccept: a declined offer cannot be accepted afterwards,
// and the decliner is not offered the ride again.
func TestDeclineThenAccept(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	d := goOnline(t, base, "picky", 100)
	r := requestRide(t, base, "alice")
	o := d.awaitOffer(r.ID)
	d.send(map[string]any{"type": "decline", "offer_id": o.OfferID, "id": "no"})
	if got := d.barrier(); len(got) != 0 {
		t.Errorf("decline answered: %v", raws(got))
	}
	// Declining again is a no-op.
	d.send(map[string]any{"type": "decline", "offer_id": o.OfferID, "id": "no2"})
	if got := d.barrier(); len(got) != 0 {
		t.Errorf("second decline answered: %v", raws(got))
	}
	d.accept(o.OfferID, "yes")
	for _, f := range d.barrier() {
		if f.Type == "assigned" || f.Type == "offer" {
			t.Errorf("accept after decline: %s", f.Raw)
		}
	}
	if g := getRide(t, base, r.ID); g.Status != "matching" || g.DriverID != "" {
		t.Errorf("ride: %+v", g)
	}
	if _, ok := nearbyIDs(t, base)["picky"]; !ok {
		t.Errorf("decliner not available")
	}
}

// TestDriverHandBack: a driver hands an assigned ride back over the
// socket; the ride returns to matching without it, the driver is told
// (ride_cancelled by driver) and free.
func TestDriverHandBack(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	d := goOnline(t, base, "quitter", 100)
	r := assign(t, base, d, "alice")
	f, before := d.stepAll("cancel", r.ID)
	if f.Type != "ride" || f.Ride.Status != "matching" || f.Ride.DriverID != "" {
		t.Fatalf("hand back ack: %s", f.Raw)
	}
	got := append(before, d.barrier()...)
	if len(got) != 1 || got[0].Type != "ride_cancelled" || got[0].RideID != r.ID || got[0].By != "driver" {
		t.Errorf("frames around the hand back: %v, want one ride_cancelled by driver", raws(got))
	}
	if g := getRide(t, base, r.ID); g.Status != "matching" || g.DriverID != "" {
		t.Errorf("ride: %+v", g)
	}
	if _, ok := nearbyIDs(t, base)["quitter"]; !ok {
		t.Errorf("driver not available after handing back")
	}
	// The same driver is not offered the ride again; another one is.
	d2 := goOnline(t, base, "keen", 150)
	d2.awaitOffer(r.ID)
	for _, f := range d.barrier() {
		if f.Type == "offer" && f.RideID == r.ID {
			t.Errorf("ride re-offered to the driver who handed it back: %s", f.Raw)
		}
	}
	// Handing back twice is refused.
	if f := d.step("cancel", r.ID); f.Type != "error" {
		t.Errorf("second hand back: %s", f.Raw)
	}
}

// TestNoDriverCannotBeCancelled: a ride that found nobody is terminal.
func TestNoDriverCannotBeCancelled(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{MatchTimeout: 200 * time.Millisecond, RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	r := requestRide(t, base, "lonely")
	eventually(t, "no_driver", func() bool { return getRide(t, base, r.ID).Status == "no_driver" })
	g := getRide(t, base, r.ID)
	wantError(t, "cancel no_driver", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?"+asRider("lonely"), ""), http.StatusConflict, "failed_precondition")
	wantError(t, "rate no_driver", do(t, "POST", base+"/v1/rides/"+r.ID+"/rating?"+asRider("lonely"), `{"stars":3}`), http.StatusConflict, "")
	if g2 := getRide(t, base, r.ID); g2.Version != g.Version || g2.Status != "no_driver" {
		t.Errorf("no_driver ride changed: %+v", g2)
	}
}

// TestOfflineDriverNotListedNorOffered: a driver that went offline keeps
// sending fixes, which are accepted but never make it available.
func TestOfflineDriverNotListedNorOffered(t *testing.T) {
	srv := start(t, server.Config{Engine: dispatch.Config{RetryInterval: 50 * time.Millisecond}})
	base := srv.URL()
	d := goOnline(t, base, "off", 100)
	d.send(`{"type":"status","status":"offline"}`)
	d.moveTo(d.lat+0.0001, pickupLon)
	if got := d.barrier(); len(got) != 0 {
		t.Fatalf("offline + fix answered: %v", raws(got))
	}
	if _, ok := nearbyIDs(t, base)["off"]; ok {
		t.Errorf("offline driver listed as available")
	}
	r := requestRide(t, base, "alice")
	on := goOnline(t, base, "on", 300)
	on.awaitOffer(r.ID)
	for _, f := range d.barrier() {
		if f.Type == "offer" {
			t.Errorf("offline driver offered: %s", f.Raw)
		}
	}
	// Back to available: listed and offered.
	d.send(`{"type":"status","status":"available"}`)
	d.moveTo(d.lat+0.0001, pickupLon)
	d.barrier()
	if _, ok := nearbyIDs(t, base)["off"]; !ok {
		t.Errorf("driver back online not listed")
	}
	r2 := requestRide(t, base, "bob")
	d.awaitOffer(r2.ID)
}
