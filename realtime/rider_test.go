package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
)

func TestRider_SnapshotAndEvents(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	r := ts.dialRider(t, "r1", "u1")
	var snap RideMessage
	if err := nextOf(t, r, TypeRide).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if snap.Ride == nil || snap.Ride.ID != "r1" || snap.Ride.RiderID != "u1" || snap.Ride.Status != dispatch.RideMatching {
		t.Fatalf("snapshot = %+v", snap.Ride)
	}
	// Both reads (authorisation, then the snapshot after subscribing) act
	// as the rider.
	for _, c := range ts.d.waitCalls(t, "GetRide", 2) {
		if c.Actor != (dispatch.Actor{Role: dispatch.RoleRider, ID: "u1"}) || c.Arg != "r1" {
			t.Fatalf("GetRide(%+v, %q)", c.Actor, c.Arg)
		}
	}

	ctx := context.Background()
	assigned := &dispatch.Ride{ID: "r1", RiderID: "u1", DriverID: "d1", Status: dispatch.RideAssigned, Version: 2}
	ts.hub.NotifyRide(ctx, "r1", dispatch.RideEvent{Type: "ride", Ride: assigned})
	ts.hub.NotifyRide(ctx, "r2", dispatch.RideEvent{Type: "ride", Ride: &dispatch.Ride{ID: "r2"}}) // another ride
	ts.hub.NotifyRide(ctx, "r1", dispatch.DriverLocationEvent{Type: "driver_location", RideID: "r1", Lat: 1.5, Lon: 2.5, TS: 10, ETAS: 120})

	var ev RideMessage
	if err := nextOf(t, r, TypeRide).Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Ride.ID != "r1" || ev.Ride.Status != dispatch.RideAssigned || ev.Ride.DriverID != "d1" {
		t.Fatalf("event = %+v", ev.Ride)
	}
	var loc dispatch.DriverLocationEvent
	if err := nextOf(t, r, TypeDriverLocation).Decode(&loc); err != nil {
		t.Fatal(err)
	}
	if loc != (dispatch.DriverLocationEvent{Type: "driver_location", RideID: "r1", Lat: 1.5, Lon: 2.5, TS: 10, ETAS: 120}) {
		t.Fatalf("location = %+v", loc)
	}

	// A second device of the same rider follows the ride too.
	r2 := ts.dialRider(t, "r1", "u1")
	nextOf(t, r2, TypeRide)
	ts.hub.NotifyRide(ctx, "r1", dispatch.RideEvent{Type: "ride", Ride: assigned})
	nextOf(t, r, TypeRide)
	nextOf(t, r2, TypeRide)

	// Riders send nothing: a frame is answered with an error, and the
	// connection stays.
	if err := r.SendRaw(ctx, []byte(`{"type":"location","lat":1,"lon":1,"ts":1}`)); err != nil {
		t.Fatal(err)
	}
	if e := nextError(t, r); e.Code != dispatch.CodeInvalid || e.Ref != "location" {
		t.Fatalf("error = %+v", e)
	}
	ts.hub.NotifyRide(ctx, "r1", dispatch.RideEvent{Type: "ride", Ride: assigned})
	nextOf(t, r, TypeRide)
}

// TestHub_CoalesceQueue checks the queue of a rider whose writer has not
// run: positions collapse to the newest, other events all stay, in order.
func TestHub_CoalesceQueue(t *testing.T) {
	h := NewHub(HubConfig{})
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newConn(h, nil, "rider", "u1", time.Time{})
	c.rideID, c.latest = "r1", true
	h.subscribeRide(c)
	defer h.unsubscribeRide(c)
	ctx := context.Background()
	for i := 1; i <= 50; i++ {
		h.NotifyRide(ctx, "r1", dispatch.DriverLocationEvent{Type: "driver_location", RideID: "r1", TS: int64(i)})
		if i%20 == 0 {
			h.NotifyRide(ctx, "r1", dispatch.RideEvent{Type: "ride", Ride: &dispatch.Ride{ID: "r1", Status: dispatch.RideAssigned, Version: int64(i)}})
		}
	}
	var got []string
	c.mu.Lock()
	for {
		m, ok := c.q.pop()
		if !ok {
			break
		}
		var v struct {
			Type string
			TS   int64
			Ride struct{ Version int64 }
		}
		if err := json.Unmarshal(m.data, &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d", v.Type, v.TS+v.Ride.Version))
	}
	c.mu.Unlock()
	want := []string{"ride:20", "ride:40", "driver_location:50"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queue = %v, want %v", got, want)
	}
	if s := h.Stats(); s.Coalesced != 49 {
		t.Fatalf("Coalesced = %d, want 49", s.Coalesced)
	}
}

// TestRider_Coalescing sends a burst of positions to a live rider: every
// position is either delivered, in order, or coalesced, and the last one
// always arrives.
func TestRider_Coalescing(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	r := ts.dialRider(t, "r1", "u1")
	nextOf(t, r, TypeRide) // matching, version 1
	ctx := context.Background()
	ts.hub.NotifyRide(ctx, "r1", dispatch.RideEvent{Type: "ride", Ride: &dispatch.Ride{ID: "r1", Status: dispatch.RideAssigned, Version: 2}})
	nextOf(t, r, TypeRide)
	const n = 2000
	for i := 1; i <= n; i++ {
		ts.hub.NotifyRide(ctx, "r1", dispatch.DriverLocationEvent{Type: "driver_location", RideID: "r1", TS: int64(i)})
	}
	ts.hub.NotifyRide(ctx, "r1", dispatch.RideEvent{Type: "ride", Ride: &dispatch.Ride{ID: "r1", Status: dispatch.RideArrived, Version: 3}})
	var delivered, last int64
	for {
		m := next(t, r)
		if m.Type == TypeRide {
			break
		}
		var loc dispatch.DriverLocationEvent
		if err := m.Decode(&loc); err != nil {
			t.Fatal(err)
		}
		if loc.TS <= last {
			t.Fatalf("position %d after %d", loc.TS, last)
		}
		last = loc.TS
		delivered++
	}
	if last != n {
		t.Fatalf("last position %d, want %d", last, n)
	}
	s := ts.hub.Stats()
	if uint64(delivered)+s.Coalesced != n || s.SlowConsumers != 0 {
		t.Fatalf("delivered %d + coalesced %d != %d (stats %+v)", delivered, s.Coalesced, n, s)
	}
	t.Logf("delivered %d of %d positions, coalesced %d", delivered, n, s.Coalesced)
}

// TestRider_NoPositionsWithoutDriver: positions published after the ride
// lost its driver (another node had not heard of the cancel yet) are not
// sent; an older ride version arriving late does not bring them back, and
// a newer assignment does.
func TestRider_NoPositionsWithoutDriver(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	r := ts.dialRider(t, "r1", "u1")
	nextOf(t, r, TypeRide) // matching, version 1
	ctx := context.Background()
	ride := func(st dispatch.RideStatus, v int64) {
		ts.hub.NotifyRide(ctx, "r1", dispatch.RideEvent{Type: "ride", Ride: &dispatch.Ride{ID: "r1", Status: st, Version: v}})
	}
	loc := func(ts0 int64) {
		ts.hub.NotifyRide(ctx, "r1", dispatch.DriverLocationEvent{Type: "driver_location", RideID: "r1", TS: ts0})
	}
	loc(1) // matching: no driver yet
	ride(dispatch.RideAssigned, 3)
	loc(2)
	ride(dispatch.RideCancelled, 5)
	loc(3)                         // from a node that did not know
	ride(dispatch.RideAssigned, 4) // late, older than the cancel
	loc(4)
	ride(dispatch.RideCancelled, 5) // a marker: everything before it arrived
	var got []string
	for len(got) < 5 {
		m := next(t, r)
		switch m.Type {
		case TypeRide:
			var v struct{ Ride dispatch.Ride }
			_ = m.Decode(&v)
			got = append(got, fmt.Sprint(v.Ride.Status, "@", v.Ride.Version))
		default:
			var l dispatch.DriverLocationEvent
			_ = m.Decode(&l)
			got = append(got, fmt.Sprint("loc", l.TS))
		}
	}
	want := "[assigned@3 loc2 cancelled@5 assigned@4 cancelled@5]"
	if fmt.Sprint(got) != want {
		t.Fatalf("rider got %v, want %s", got, want)
	}
}
