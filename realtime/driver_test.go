package realtime

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

func TestDriver_Welcome(t *testing.T) {
	t.Run("Available", func(t *testing.T) {
		ts := newTestServer(t, serverOpts{})
		c := ts.dialDriver(t, "d1")
		var w WelcomeMessage
		if err := nextOf(t, c, TypeWelcome).Decode(&w); err != nil {
			t.Fatal(err)
		}
		if w.DriverID != "d1" || w.Status != dispatch.DriverAvailable || w.Ride != nil || w.Offer != nil {
			t.Fatalf("welcome = %+v", w)
		}
		if got := ts.d.waitCalls(t, "DriverConnected", 1); got[0].ID != "d1" {
			t.Fatalf("DriverConnected(%q)", got[0].ID)
		}
	})

	t.Run("OnTripWithOffer", func(t *testing.T) {
		d := &fakeDispatcher{DriverConnectedFn: func(_ context.Context, id string) (*dispatch.DriverState, error) {
			return &dispatch.DriverState{
				Driver: &dispatch.Driver{ID: id, Status: dispatch.DriverOnTrip, RideID: "r9"},
				Ride:   &dispatch.Ride{ID: "r9", Status: dispatch.RideArrived, DriverID: id},
				Offer:  &dispatch.OfferEvent{Type: "offer", OfferID: "r8.1", RideID: "r8", ExpiresAt: 123},
			}, nil
		}}
		ts := newTestServer(t, serverOpts{d: d})
		c := ts.dialDriver(t, "d1")
		m := nextOf(t, c, TypeWelcome)
		var raw map[string]json.RawMessage
		if err := m.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		var w WelcomeMessage
		_ = m.Decode(&w)
		if w.Status != dispatch.DriverOnTrip || w.Ride == nil || w.Ride.ID != "r9" || w.Ride.Status != dispatch.RideArrived {
			t.Fatalf("welcome = %s", m.Raw)
		}
		if w.Offer == nil || w.Offer.OfferID != "r8.1" || w.Offer.ExpiresAt != 123 {
			t.Fatalf("welcome offer = %s", m.Raw)
		}
	})

	t.Run("EngineDown", func(t *testing.T) {
		d := &fakeDispatcher{DriverConnectedFn: func(context.Context, string) (*dispatch.DriverState, error) {
			return nil, dispatch.Errorf(dispatch.CodeUnavailable, "busy, retry")
		}}
		ts := newTestServer(t, serverOpts{d: d})
		c := ts.dialDriver(t, "d1")
		if e := nextError(t, c); e.Code != dispatch.CodeUnavailable || e.Ref != TypeWelcome {
			t.Fatalf("error = %+v", e)
		}
		if code := waitClosed(t, c); code != CloseInternal {
			t.Fatalf("close code %d, want %d", code, CloseInternal)
		}
		waitStats(t, ts.hub, "driver gone", func(s Stats) bool { return s.DriverConns == 0 })
		if n := len(ts.d.callsOf("DriverDisconnected")); n != 0 {
			t.Fatalf("DriverDisconnected called %d times after a failed connect", n)
		}
	})
}

func TestDriver_Messages(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	c := ts.dialDriver(t, "d7")
	nextOf(t, c, TypeWelcome)
	ctx := context.Background()
	send := func(frame string) {
		t.Helper()
		if err := c.SendRaw(ctx, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("location", func(t *testing.T) {
		send(`{"type":"location","lat":37.77,"lon":-122.41,"ts":1700000000000,"heading":90.5,"speed":12,"accuracy":5}`)
		got := ts.d.waitCalls(t, "UpdateLocation", 1)[0]
		f := got.Fix
		if got.ID != "d7" || f.Lat != 37.77 || f.Lon != -122.41 || f.TS != 1700000000000 ||
			f.Heading == nil || *f.Heading != 90.5 || f.Speed == nil || *f.Speed != 12 || f.Accuracy == nil || *f.Accuracy != 5 {
			t.Fatalf("UpdateLocation(%q, %+v)", got.ID, f)
		}
	})
	t.Run("locations", func(t *testing.T) {
		// Out of order, one older than the fix above: applied sorted, the
		// old one dropped and reported.
		send(`{"type":"locations","points":[
			{"lat":1,"lon":1,"ts":1700000003000},
			{"lat":2,"lon":2,"ts":1600000000000},
			{"lat":3,"lon":3,"ts":1700000002000}]}`)
		e := nextError(t, c)
		if e.Code != CodeStaleFix || e.Ref != TypeLocations || !strings.HasPrefix(e.Message, "1 of 3 fixes") {
			t.Fatalf("error = %+v", e)
		}
		calls := ts.d.waitCalls(t, "UpdateLocation", 3)
		if calls[1].Fix.TS != 1700000002000 || calls[2].Fix.TS != 1700000003000 || calls[1].Fix.Lat != 3 {
			t.Fatalf("applied %+v then %+v", calls[1].Fix, calls[2].Fix)
		}
		if s := ts.hub.Stats(); s.StaleFixes != 1 {
			t.Fatalf("StaleFixes = %d", s.StaleFixes)
		}
	})
	t.Run("locations with bad points", func(t *testing.T) {
		// A point out of range, one without ts and one with an iOS-style
		// speed of -1 are dropped alone; the two good fixes are applied.
		send(`{"type":"locations","points":[
			{"lat":4,"lon":4,"ts":1700000004000},
			{"lat":91,"lon":4,"ts":1700000004500},
			{"lat":4,"lon":4},
			{"lat":4,"lon":4,"ts":1700000004700,"speed":-1},
			{"lat":5,"lon":5,"ts":1700000005000}]}`)
		e := nextError(t, c)
		if e.Code != dispatch.CodeInvalid || e.Ref != TypeLocations ||
			e.Message != "3 of 5 fixes were rejected: points[1].lat must be within [-90, 90], got 91" {
			t.Fatalf("error = %+v", e)
		}
		calls := ts.d.waitCalls(t, "UpdateLocation", 5)
		if calls[3].Fix.Lat != 4 || calls[4].Fix.Lat != 5 || calls[4].Fix.TS != 1700000005000 {
			t.Fatalf("applied %+v then %+v", calls[3].Fix, calls[4].Fix)
		}
	})
	t.Run("status", func(t *testing.T) {
		send(`{"type":"status","status":"offline"}`)
		if got := ts.d.waitCalls(t, "SetDriverStatus", 1)[0]; got.ID != "d7" || got.Arg != "offline" {
			t.Fatalf("SetDriverStatus(%q, %q)", got.ID, got.Arg)
		}
	})
	t.Run("accept", func(t *testing.T) {
		send(`{"type":"accept","offer_id":"r1.2"}`)
		if got := ts.d.waitCalls(t, "Accept", 1)[0]; got.ID != "d7" || got.Arg != "r1.2" {
			t.Fatalf("Accept(%q, %q)", got.ID, got.Arg)
		}
	})
	t.Run("decline", func(t *testing.T) {
		send(`{"type":"decline","offer_id":"r1.3"}`)
		if got := ts.d.waitCalls(t, "Decline", 1)[0]; got.ID != "d7" || got.Arg != "r1.3" {
			t.Fatalf("Decline(%q, %q)", got.ID, got.Arg)
		}
	})
	steps := []struct {
		frame, method string
		status        dispatch.RideStatus
		ref           string
	}{
		{`{"type":"arrived","ride_id":"r5"}`, "Arrived", dispatch.RideArrived, "arrived"},
		{`{"type":"start","ride_id":"r5","id":"m-42"}`, "Start", dispatch.RideInProgress, "m-42"},
		{`{"type":"complete","ride_id":"r5","distance_m":4321.5}`, "Complete", dispatch.RideCompleted, "complete"},
		{`{"type":"cancel","ride_id":"r5"}`, "CancelRide", dispatch.RideMatching, "cancel"},
	}
	for _, st := range steps {
		t.Run(st.method, func(t *testing.T) {
			send(st.frame)
			var ack RideMessage
			if err := nextOf(t, c, TypeRide).Decode(&ack); err != nil {
				t.Fatal(err)
			}
			if ack.Ride == nil || ack.Ride.ID != "r5" || ack.Ride.Status != st.status || ack.Ref != st.ref {
				t.Fatalf("ack = %+v", ack)
			}
			got := ts.d.waitCalls(t, st.method, 1)[0]
			if got.ID != "d7" || got.Arg != "r5" {
				t.Fatalf("%s(%q, %q)", st.method, got.ID, got.Arg)
			}
			switch st.method {
			case "Complete":
				if got.Dist != 4321.5 {
					t.Fatalf("distance %v", got.Dist)
				}
			case "CancelRide":
				if got.Actor != (dispatch.Actor{Role: dispatch.RoleDriver, ID: "d7"}) {
					t.Fatalf("actor %+v", got.Actor)
				}
			}
		})
	}
}

func TestDriver_BadInput(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	c := ts.dialDriver(t, "d1")
	nextOf(t, c, TypeWelcome)
	ctx := context.Background()
	cases := []struct {
		name, frame, code, ref, msg string
	}{
		{"NotJSON", `hello`, dispatch.CodeInvalid, "", "not valid JSON"},
		{"Truncated", `{"type":"location","lat":1`, dispatch.CodeInvalid, "", "not valid JSON"},
		{"Array", `[1,2]`, dispatch.CodeInvalid, "", "JSON object"},
		{"String", `"location"`, dispatch.CodeInvalid, "", "JSON object"},
		{"Null", `null`, dispatch.CodeInvalid, "", "JSON object"},
		{"NoType", `{"lat":1,"lon":2,"ts":3}`, dispatch.CodeInvalid, "", "type is required"},
		{"TypeNotString", `{"type":7}`, dispatch.CodeInvalid, "", "type must be a string"},
		{"UnknownType", `{"type":"teleport"}`, dispatch.CodeInvalid, "teleport", "unknown message type"},
		{"LatString", `{"type":"location","lat":"37.7","lon":1,"ts":1}`, dispatch.CodeInvalid, "location", "lat must be a number"},
		{"MissingLon", `{"type":"location","lat":37.7,"ts":1}`, dispatch.CodeInvalid, "location", "lon is required"},
		{"MissingTS", `{"type":"location","lat":37.7,"lon":1}`, dispatch.CodeInvalid, "location", "ts is required"},
		{"TSFloat", `{"type":"location","lat":37.7,"lon":1,"ts":1.5}`, dispatch.CodeInvalid, "location", "ts must be an integer"},
		{"LatOutOfRange", `{"type":"location","lat":91,"lon":1,"ts":1}`, dispatch.CodeInvalid, "location", "lat must be within [-90, 90]"},
		{"LonOutOfRange", `{"type":"location","lat":1,"lon":-180.5,"ts":1}`, dispatch.CodeInvalid, "location", "lon must be within [-180, 180]"},
		{"NaN", `{"type":"location","lat":NaN,"lon":1,"ts":1}`, dispatch.CodeInvalid, "", "not valid JSON"},
		{"Huge", `{"type":"location","lat":1e400,"lon":1,"ts":1}`, dispatch.CodeInvalid, "location", "lat is out of range"},
		{"BadHeading", `{"type":"location","lat":1,"lon":1,"ts":1,"heading":400}`, dispatch.CodeInvalid, "location", "heading must be within"},
		{"NegativeSpeed", `{"type":"location","lat":1,"lon":1,"ts":1,"speed":-1}`, dispatch.CodeInvalid, "location", "speed must be within"},
		{"PointsMissing", `{"type":"locations"}`, dispatch.CodeInvalid, "locations", "points is required"},
		{"PointsEmpty", `{"type":"locations","points":[]}`, dispatch.CodeInvalid, "locations", "points must not be empty"},
		{"PointsNotArray", `{"type":"locations","points":{}}`, dispatch.CodeInvalid, "locations", "points must be an array"},
		{"PointsBad", `{"type":"locations","points":[{"lat":100,"lon":1,"ts":2},{"lat":1,"lon":1}]}`, dispatch.CodeInvalid, "locations", "2 of 2 fixes were rejected: points[0].lat must be within"},
		{"PointNotObject", `{"type":"locations","points":[5]}`, dispatch.CodeInvalid, "locations", "points[0] must be an object"},
		{"StatusBad", `{"type":"status","status":"on_trip"}`, dispatch.CodeInvalid, "status", `status must be "available" or "offline"`},
		{"StatusMissing", `{"type":"status"}`, dispatch.CodeInvalid, "status", "status is required"},
		{"OfferIDMissing", `{"type":"accept"}`, dispatch.CodeInvalid, "accept", "offer_id is required"},
		{"OfferIDNumber", `{"type":"decline","offer_id":12}`, dispatch.CodeInvalid, "decline", "offer_id must be a string"},
		{"RideIDMissing", `{"type":"arrived","id":"m1"}`, dispatch.CodeInvalid, "m1", "ride_id is required"},
		{"RideIDTooLong", `{"type":"start","ride_id":"` + strings.Repeat("x", 129) + `"}`, dispatch.CodeInvalid, "start", "ride_id must be at most 128 bytes"},
		{"DistanceNegative", `{"type":"complete","ride_id":"r1","distance_m":-5}`, dispatch.CodeInvalid, "complete", "distance_m must be within"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.SendRaw(ctx, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			e := nextError(t, c)
			if e.Code != tc.code || e.Ref != tc.ref || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("error = %+v, want code %s ref %q message containing %q", e, tc.code, tc.ref, tc.msg)
			}
		})
	}
	t.Run("Binary", func(t *testing.T) {
		c.wmu.Lock()
		err := c.ws.WriteMessage(2, []byte(`{"type":"location","lat":1,"lon":1,"ts":1}`))
		c.wmu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if e := nextError(t, c); e.Code != dispatch.CodeInvalid || !strings.Contains(e.Message, "text frames") {
			t.Fatalf("error = %+v", e)
		}
	})
	// The connection survived every bad frame: a valid message still works.
	if n := len(ts.d.callsOf("UpdateLocation")); n != 0 {
		t.Fatalf("UpdateLocation called %d times for bad frames", n)
	}
	if err := c.Send(ctx, map[string]any{"type": "arrived", "ride_id": "r2"}); err != nil {
		t.Fatal(err)
	}
	if ack := nextOf(t, c, TypeRide); !strings.Contains(string(ack.Raw), `"id":"r2"`) {
		t.Fatalf("ack = %s", ack.Raw)
	}
	if s := ts.hub.Stats(); s.BadFrames != uint64(len(cases)+1) {
		t.Fatalf("BadFrames = %d, want %d", s.BadFrames, len(cases)+1)
	}
}

func TestDriver_DispatchErrors(t *testing.T) {
	d := &fakeDispatcher{
		AcceptFn: func(_ context.Context, _, offerID string) (*dispatch.Ride, error) {
			switch offerID {
			case "r1.1":
				return nil, &dispatch.Error{Code: dispatch.CodeOfferTaken, Message: "the ride was taken by another driver"}
			case "r1.2":
				return nil, &dispatch.Error{Code: dispatch.CodeOfferExpired, Message: "the offer expired"}
			case "r1.3":
				return nil, &dispatch.Error{Code: dispatch.CodeOfferCanceled, Message: "the ride was cancelled"}
			}
			return nil, dispatch.Errorf(dispatch.CodeNotFound, "offer %q not found", offerID)
		},
		StepFn: func(_ context.Context, method, _, _ string) (*dispatch.Ride, error) {
			if method == "Start" {
				return nil, dispatch.Errorf(dispatch.CodePrecondition, "cannot go from assigned to in_progress")
			}
			return nil, context.DeadlineExceeded
		},
		UpdateLocationFn: func(_ context.Context, _ string, f dispatch.Fix) error {
			if f.TS == 5 {
				return dispatch.Errorf(dispatch.CodeStaleFix, "fix is older than the previous one")
			}
			return dispatch.Errorf(dispatch.CodePrecondition, "driver is offline: send status available first")
		},
	}
	ts := newTestServer(t, serverOpts{d: d})
	c := ts.dialDriver(t, "d1")
	nextOf(t, c, TypeWelcome)
	ctx := context.Background()

	// Accepts of offers already gone get no reply: the engine has sent (or
	// will send) the one offer_revoked of each offer itself.
	for _, offer := range []string{"r1.1", "r1.2", "r1.3"} {
		if err := c.Send(ctx, map[string]string{"type": "accept", "offer_id": offer}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Send(ctx, map[string]string{"type": "bogus"}); err != nil {
		t.Fatal(err)
	}
	if m := next(t, c); m.Type != TypeError {
		t.Fatalf("lost accepts were answered: %s", m.Raw)
	}
	if got := ts.hub.Stats().LostOffers; got != 3 {
		t.Fatalf("lost offers %d, want 3", got)
	}
	checks := []struct {
		frame, code, ref, msg string
	}{
		{`{"type":"accept","offer_id":"zz"}`, dispatch.CodeNotFound, "accept", `offer "zz" not found`},
		{`{"type":"start","ride_id":"r1"}`, dispatch.CodePrecondition, "start", "cannot go from assigned"},
		{`{"type":"arrived","ride_id":"r1"}`, dispatch.CodeUnavailable, "arrived", "retry"},
		{`{"type":"location","lat":1,"lon":1,"ts":9}`, dispatch.CodePrecondition, "location", "driver is offline"},
		{`{"type":"location","lat":1,"lon":1,"ts":5}`, CodeStaleFix, "location", "the fix was older than the previous one"},
	}
	for _, ch := range checks {
		if err := c.SendRaw(ctx, []byte(ch.frame)); err != nil {
			t.Fatal(err)
		}
		if e := nextError(t, c); e.Code != ch.code || e.Ref != ch.ref || !strings.Contains(e.Message, ch.msg) {
			t.Fatalf("%s: error = %+v, want %s %q", ch.frame, e, ch.code, ch.msg)
		}
	}
}

func TestDriver_StaleSingleFix(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	c := ts.dialDriver(t, "d1")
	nextOf(t, c, TypeWelcome)
	ctx := context.Background()
	for _, frame := range []string{
		`{"type":"location","lat":1,"lon":1,"ts":2000}`,
		`{"type":"location","lat":1,"lon":1,"ts":1000}`,
		`{"type":"location","lat":1,"lon":1,"ts":2000}`,
	} {
		if err := c.SendRaw(ctx, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	if e := nextError(t, c); e.Code != CodeStaleFix {
		t.Fatalf("error = %+v", e)
	}
	calls := ts.d.waitCalls(t, "UpdateLocation", 2)
	if len(calls) != 2 || calls[0].Fix.TS != 2000 || calls[1].Fix.TS != 2000 {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestDecodeDriverMessage_Valid(t *testing.T) {
	cases := []struct {
		frame string
		want  DriverMessage
	}{
		{`{"type":"location","lat":-33.5,"lon":151.25,"ts":17}`, DriverMessage{Type: TypeLocation, Fix: dispatch.Fix{Lat: -33.5, Lon: 151.25, TS: 17}}},
		{` {"type":"status","status":"available","extra":[1,{"x":null}]}`, DriverMessage{Type: TypeStatus, Status: dispatch.DriverAvailable}},
		// Names are exact: TYPE is an unknown member, so the type is missing.
		{`{"TYPE":"status","status":"available"}`, DriverMessage{}},
		{`{"type":"location","lat":-33.5,"lon":151.25,"ts":17,"LAT":95,"Lon":0}`, DriverMessage{Type: TypeLocation, Fix: dispatch.Fix{Lat: -33.5, Lon: 151.25, TS: 17}}},
		{`{"type":"locations","points":[{"lat":1,"lon":2,"ts":3,"TS":-1}]}`, DriverMessage{Type: TypeLocations}},
		// A duplicated member is refused, at any depth.
		{`{"type":"status","status":"offline","status":"available"}`, DriverMessage{}},
		{`{"type":"locations","points":[{"lat":1,"lon":2,"ts":3,"ts":4}]}`, DriverMessage{}},
		{`{"type":"accept","offer_id":"r.1","x":{"y":1,"y":2}}`, DriverMessage{}},
		{`{"type":"accept","offer_id":"r.1","id":"c-1"}`, DriverMessage{Type: TypeAccept, ID: "c-1", OfferID: "r.1"}},
		{`{"type":"complete","ride_id":"r"}`, DriverMessage{Type: TypeComplete, RideID: "r"}},
		{`{"type":"complete","ride_id":"r","distance_m":null}`, DriverMessage{Type: TypeComplete, RideID: "r"}},
		{`{"type":"arrived","ride_id":"r","distance_m":"ignored?"}`, DriverMessage{}},
	}
	for _, tc := range cases {
		got, err := DecodeDriverMessage([]byte(tc.frame))
		if tc.want.Type == "" {
			if err == nil {
				t.Errorf("%s: no error", tc.frame)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.frame, err)
			continue
		}
		if got.Type != tc.want.Type || got.ID != tc.want.ID || got.Fix != tc.want.Fix || got.Status != tc.want.Status ||
			got.OfferID != tc.want.OfferID || got.RideID != tc.want.RideID || got.DistanceM != tc.want.DistanceM {
			t.Errorf("%s: got %+v, want %+v", tc.frame, got, tc.want)
		}
	}
	// complete may carry the trip's GPS path: its length is the distance,
	// unless distance_m is given; invalid points are left out.
	path := `"path":[{"lat":37.7749,"lon":-122.4194,"ts":1000},{"lat":37.7758,"lon":-122.4194,"ts":11000},{"lat":95,"lon":0,"ts":12000}]`
	m, err := DecodeDriverMessage([]byte(`{"type":"complete","ride_id":"r",` + path + `}`))
	if err != nil || m.DistanceM < 99 || m.DistanceM > 101 {
		t.Fatalf("complete with a path: %+v, %v; want about 100 m", m, err)
	}
	if m, err := DecodeDriverMessage([]byte(`{"type":"complete","ride_id":"r","distance_m":5000,` + path + `}`)); err != nil || m.DistanceM != 5000 {
		t.Fatalf("complete with distance_m and a path: %+v, %v", m, err)
	}
	for _, bad := range []string{`"path":{}`, `"path":[]`, `"path":[1]`} {
		if _, err := DecodeDriverMessage([]byte(`{"type":"complete","ride_id":"r",` + bad + `}`)); err == nil {
			t.Errorf("complete with %s: no error", bad)
		}
	}
	// Boundaries are valid, also for the batch.
	m, err = DecodeDriverMessage([]byte(`{"type":"locations","points":[{"lat":90,"lon":180,"ts":1},{"lat":-90,"lon":-180,"ts":2,"heading":360,"speed":0,"accuracy":0}]}`))
	if err != nil || len(m.Points) != 2 || m.Points[1].Heading == nil || *m.Points[1].Heading != 360 || m.Points[0].Heading != nil {
		t.Fatalf("batch: %+v, %v", m, err)
	}
	if err := (geo.Point{Lat: m.Points[0].Lat, Lon: m.Points[0].Lon}).Validate(); err != nil || math.IsNaN(m.Points[0].Lat) {
		t.Fatal(err)
	}
}

// A fix of a batch the engine refuses (an implausible jump) is named by
// its ts in the batch's error; the others are applied.
func TestDriver_BatchEngineRejectNamesFix(t *testing.T) {
	d := &fakeDispatcher{UpdateLocationFn: func(_ context.Context, _ string, f dispatch.Fix) error {
		if f.TS == 2000 {
			return dispatch.Errorf(dispatch.CodeInvalid, "location: implausible jump")
		}
		return nil
	}}
	ts := newTestServer(t, serverOpts{d: d})
	c := ts.dialDriver(t, "d1")
	nextOf(t, c, TypeWelcome)
	if err := c.SendRaw(context.Background(), []byte(`{"type":"locations","points":[{"lat":1,"lon":1,"ts":1000},{"lat":2,"lon":2,"ts":2000},{"lat":1,"lon":1,"ts":3000}]}`)); err != nil {
		t.Fatal(err)
	}
	e := nextError(t, c)
	if e.Code != dispatch.CodeInvalid || e.Message != "1 of 3 fixes were rejected: the fix with ts 2000: location: implausible jump" {
		t.Fatalf("error = %+v", e)
	}
	if n := len(d.waitCalls(t, "UpdateLocation", 3)); n != 3 {
		t.Fatalf("%d fixes offered to the engine", n)
	}
}
