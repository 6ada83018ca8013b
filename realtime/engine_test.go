package realtime

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/auth"
)

// TestEngine_Trip runs a whole trip through the real engine, both
// handlers and real sockets: offers, the acceptance race, the rider's live
// view and the driver's acknowledgements.
func TestEngine_Trip(t *testing.T) {
	hub := NewHub(HubConfig{})
	ctx := context.Background()
	if err := hub.Open(ctx); err != nil {
		t.Fatal(err)
	}
	eng, err := dispatch.New(dispatch.Config{}, dispatch.Deps{Notifier: hub})
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.New(nil, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /v1/driver/ws", DriverHandler(eng, hub, authn, HandlerConfig{}))
	mux.Handle("GET /v1/rider/ws", RiderHandler(eng, hub, authn, HandlerConfig{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		if err := hub.Shutdown(sctx); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	dialD := func(id string) *Client {
		c, err := DialDriver(ctx, srv.URL, id, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		var w WelcomeMessage
		if err := nextOf(t, c, TypeWelcome).Decode(&w); err != nil || w.Status != dispatch.DriverAvailable {
			t.Fatalf("welcome %+v, %v", w, err)
		}
		return c
	}
	pickup := geo.Point{Lat: 37.7749, Lon: -122.4194}
	dropoff := geo.Point{Lat: 37.7849, Lon: -122.4094}
	near, far := dialD("near"), dialD("far")
	now := time.Now().UnixMilli()
	send := func(c *Client, v any) {
		t.Helper()
		if err := c.Send(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	send(near, map[string]any{"type": "location", "lat": 37.7752, "lon": -122.4194, "ts": now})
	send(far, map[string]any{"type": "location", "lat": 37.7770, "lon": -122.4194, "ts": now})
	checkFor(t, waitTimeout, func() error {
		n, err := eng.Nearby(ctx, pickup, 1000, 10)
		if err == nil && len(n) != 2 {
			err = fmt.Errorf("%d drivers nearby", len(n))
		}
		return err
	})

	ride, _, err := eng.RequestRide(ctx, "u1", dispatch.RideRequest{Pickup: pickup, Dropoff: dropoff}, "")
	if err != nil {
		t.Fatal(err)
	}
	rider, err := DialRider(ctx, srv.URL, ride.ID, "u1", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rider.Close() })
	var snap RideMessage
	if err := nextOf(t, rider, TypeRide).Decode(&snap); err != nil || snap.Ride.ID != ride.ID {
		t.Fatalf("snapshot %+v, %v", snap, err)
	}

	var offNear, offFar dispatch.OfferEvent
	if err := nextOf(t, near, TypeOffer).Decode(&offNear); err != nil || offNear.RideID != ride.ID {
		t.Fatalf("offer %+v, %v", offNear, err)
	}
	if err := nextOf(t, far, TypeOffer).Decode(&offFar); err != nil {
		t.Fatal(err)
	}
	send(near, map[string]any{"type": "accept", "offer_id": offNear.OfferID})
	var asg dispatch.AssignedEvent
	if err := nextOf(t, near, TypeAssigned).Decode(&asg); err != nil || asg.Ride.DriverID != "near" {
		t.Fatalf("assigned %+v, %v", asg, err)
	}
	// The loser is told, and its late accept is a normal offer_revoked.
	var rv OfferRevokedMessage
	if err := nextOf(t, far, TypeOfferRevoked).Decode(&rv); err != nil || rv.Reason != "taken" {
		t.Fatalf("revoked %+v, %v", rv, err)
	}
	// Its late accept gets no second offer_revoked (exactly one per offer).
	send(far, map[string]any{"type": "accept", "offer_id": offFar.OfferID})
	send(far, map[string]any{"type": "bogus"})
	if m := next(t, far); m.Type != TypeError {
		t.Fatalf("late accept answered: %s", m.Raw)
	}

	var rm RideMessage
	if err := nextOf(t, rider, TypeRide).Decode(&rm); err != nil || rm.Ride.Status != dispatch.RideAssigned {
		t.Fatalf("rider saw %+v, %v", rm.Ride, err)
	}
	send(near, map[string]any{"type": "location", "lat": 37.7751, "lon": -122.4194, "ts": time.Now().UnixMilli()})
	var loc dispatch.DriverLocationEvent
	if err := nextOf(t, rider, TypeDriverLocation).Decode(&loc); err != nil || loc.Lat != 37.7751 {
		t.Fatalf("driver_location %+v, %v", loc, err)
	}

	for _, step := range []struct {
		typ    string
		status dispatch.RideStatus
	}{{"arrived", dispatch.RideArrived}, {"start", dispatch.RideInProgress}, {"complete", dispatch.RideCompleted}} {
		send(near, map[string]any{"type": step.typ, "ride_id": ride.ID})
		if err := nextOf(t, near, TypeRide).Decode(&rm); err != nil || rm.Ride.Status != step.status || rm.Ref != step.typ {
			t.Fatalf("%s ack %+v, %v", step.typ, rm, err)
		}
		if err := nextOf(t, rider, TypeRide).Decode(&rm); err != nil || rm.Ride.Status != step.status {
			t.Fatalf("%s: rider saw %+v, %v", step.typ, rm.Ride, err)
		}
	}
	if rm.Ride.FinalFare == nil || rm.Ride.FinalFare.Amount <= 0 {
		t.Fatalf("completed ride without a final fare: %+v", rm.Ride)
	}

	// A step out of order is an error frame; the connection stays.
	send(near, map[string]any{"type": "start", "ride_id": ride.ID, "id": "again"})
	if e := nextError(t, near); e.Code != dispatch.CodePrecondition || e.Ref != "again" {
		t.Fatalf("error %+v", e)
	}
}
