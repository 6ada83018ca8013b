package dispatch_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is a Notifier that keeps every event.
type recorder struct {
	mu      sync.Mutex
	drivers map[string][]dispatch.Event
	rides   map[string][]dispatch.Event
}

func newRecorder() *recorder {
	return &recorder{drivers: map[string][]dispatch.Event{}, rides: map[string][]dispatch.Event{}}
}

func (r *recorder) NotifyDriver(_ context.Context, id string, ev dispatch.Event) {
	r.mu.Lock()
	r.drivers[id] = append(r.drivers[id], ev)
	r.mu.Unlock()
}

func (r *recorder) NotifyRide(_ context.Context, id string, ev dispatch.Event) {
	r.mu.Lock()
	r.rides[id] = append(r.rides[id], ev)
	r.mu.Unlock()
}

func (r *recorder) driver(id string) []dispatch.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dispatch.Event(nil), r.drivers[id]...)
}

func (r *recorder) ride(id string) []dispatch.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dispatch.Event(nil), r.rides[id]...)
}

// offersTo returns the offers driver id received.
func (r *recorder) offersTo(id string) []dispatch.OfferEvent {
	var out []dispatch.OfferEvent
	for _, ev := range r.driver(id) {
		if o, ok := ev.(dispatch.OfferEvent); ok {
			out = append(out, o)
		}
	}
	return out
}

func (r *recorder) revoked(id string) []dispatch.OfferRevokedEvent {
	var out []dispatch.OfferRevokedEvent
	for _, ev := range r.driver(id) {
		if o, ok := ev.(dispatch.OfferRevokedEvent); ok {
			out = append(out, o)
		}
	}
	return out
}

type harness struct {
	t     *testing.T
	e     *dispatch.Engine
	clock *fakeClock
	rec   *recorder
	ctx   context.Context
}

var sf = geo.Point{Lat: 37.7749, Lon: -122.4194}

func newHarness(t *testing.T, cfg dispatch.Config) *harness {
	t.Helper()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	rec := newRecorder()
	n := 0
	var mu sync.Mutex
	cfg.NewID = func() string { mu.Lock(); defer mu.Unlock(); n++; return fmt.Sprintf("ride%d", n) }
	e, err := dispatch.New(cfg, dispatch.Deps{Clock: clock, Notifier: rec})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, e: e, clock: clock, rec: rec, ctx: context.Background()}
}

// driverAt connects a driver and reports a fix metresNorth of sf.
func (h *harness) driverAt(id string, metresNorth float64) {
	h.t.Helper()
	if _, err := h.e.DriverConnected(h.ctx, id); err != nil {
		h.t.Fatal(err)
	}
	h.fix(id, metresNorth)
}

func (h *harness) fix(id string, metresNorth float64) {
	h.t.Helper()
	p := geo.Point{Lat: sf.Lat + metresNorth/111195, Lon: sf.Lon}
	if err := h.e.UpdateLocation(h.ctx, id, dispatch.Fix{Lat: p.Lat, Lon: p.Lon, TS: h.clock.Now().UnixMilli()}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) request(rider string) *dispatch.Ride {
	h.t.Helper()
	r, created, err := h.e.RequestRide(h.ctx, rider, dispatch.RideRequest{Pickup: sf, Dropoff: geo.Point{Lat: 37.80, Lon: -122.41}}, "")
	if err != nil || !created {
		h.t.Fatalf("request ride: %v created=%v", err, created)
	}
	return r
}

func (h *harness) ride(id string) *dispatch.Ride {
	h.t.Helper()
	r, err := h.e.GetRide(h.ctx, dispatch.Actor{}, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) driverStatus(id string) dispatch.DriverStatus {
	h.t.Helper()
	st, err := h.e.DriverStateOf(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return st.Driver.Status
}

func (h *harness) tick(d time.Duration) {
	h.t.Helper()
	h.clock.Advance(d)
	if err := h.e.Tick(h.ctx); err != nil {
		h.t.Fatal(err)
	}
}

func TestFullTrip(t *testing.T) {
	h := newHarness(t, dispatch.Config{OfferCount: 2})
	h.driverAt("near", 100)
	h.driverAt("mid", 500)
	h.driverAt("far", 900)
	r := h.request("rider1")
	if r.Status != dispatch.RideMatching || r.Fare.Amount <= 0 || r.Fare.Currency == "" {
		t.Fatalf("new ride: %+v", r)
	}
	if len(h.rec.offersTo("near")) != 1 || len(h.rec.offersTo("mid")) != 1 || len(h.rec.offersTo("far")) != 0 {
		t.Fatalf("offers must go to the 2 nearest: near=%v mid=%v far=%v", h.rec.offersTo("near"), h.rec.offersTo("mid"), h.rec.offersTo("far"))
	}
	o := h.rec.offersTo("near")[0]
	if o.PickupDistanceM < 99 || o.PickupDistanceM > 101 || o.RideID != r.ID {
		t.Fatalf("offer: %+v", o)
	}
	if got := h.driverStatus("mid"); got != dispatch.DriverReserved {
		t.Fatalf("offered driver status %s, want reserved", got)
	}
	got, err := h.e.Accept(h.ctx, "near", o.OfferID)
	if err != nil || got.Status != dispatch.RideAssigned || got.DriverID != "near" {
		t.Fatalf("accept: %+v %v", got, err)
	}
	if rv := h.rec.revoked("mid"); len(rv) != 1 || rv[0].Reason != "taken" {
		t.Fatalf("mid revoked: %+v", rv)
	}
	if s := h.driverStatus("mid"); s != dispatch.DriverAvailable {
		t.Fatalf("loser status %s", s)
	}
	if s := h.driverStatus("near"); s != dispatch.DriverOnTrip {
		t.Fatalf("winner status %s", s)
	}
	// Out-of-order steps change nothing.
	if _, err := h.e.Start(h.ctx, "near", r.ID); dispatch.ErrorCode(err) != dispatch.CodePrecondition {
		t.Fatalf("start before arrived: %v", err)
	}
	if _, err := h.e.Complete(h.ctx, "near", r.ID, 0); dispatch.ErrorCode(err) != dispatch.CodePrecondition {
		t.Fatalf("complete before start: %v", err)
	}
	if _, err := h.e.Arrived(h.ctx, "mid", r.ID); dispatch.ErrorCode(err) != dispatch.CodeNotFound {
		t.Fatalf("other driver's arrived: %v", err)
	}
	if s := h.ride(r.ID).Status; s != dispatch.RideAssigned {
		t.Fatalf("status changed by rejected steps: %s", s)
	}
	// driver_location reaches the rider while assigned.
	h.clock.Advance(time.Second)
	h.fix("near", 50)
	if !hasLocation(h.rec.ride(r.ID)) {
		t.Fatal("rider got no driver_location while assigned")
	}
	mustStep(t, func() (*dispatch.Ride, error) { return h.e.Arrived(h.ctx, "near", r.ID) }, dispatch.RideArrived)
	h.clock.Advance(time.Second)
	mustStep(t, func() (*dispatch.Ride, error) { return h.e.Start(h.ctx, "near", r.ID) }, dispatch.RideInProgress)
	h.clock.Advance(10 * time.Minute)
	done := mustStep(t, func() (*dispatch.Ride, error) { return h.e.Complete(h.ctx, "near", r.ID, 4000) }, dispatch.RideCompleted)
	if done.FinalFare == nil || done.FinalFare.Amount <= 0 || done.TripDistM != 4000 || done.TripDurS != 600 {
		t.Fatalf("completed ride: %+v final=%v", done, done.FinalFare)
	}
	if s := h.driverStatus("near"); s != dispatch.DriverAvailable {
		t.Fatalf("driver after trip: %s", s)
	}
	if _, err := h.e.Arrived(h.ctx, "near", r.ID); dispatch.ErrorCode(err) != dispatch.CodePrecondition {
		t.Fatalf("step after completed: %v", err)
	}
	if _, err := h.e.Rate(h.ctx, dispatch.Actor{Role: "rider", ID: "rider1"}, r.ID, 5, "great"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Rate(h.ctx, dispatch.Actor{Role: "rider", ID: "rider1"}, r.ID, 4, ""); dispatch.ErrorCode(err) != dispatch.CodeConflict {
		t.Fatalf("second rating: %v", err)
	}
	if _, err := h.e.Rate(h.ctx, dispatch.Actor{Role: "rider", ID: "other"}, r.ID, 4, ""); dispatch.ErrorCode(err) != dispatch.CodeNotFound {
		t.Fatalf("stranger's rating: %v", err)
	}
	statuses := rideStatuses(h.rec.ride(r.ID))
	want := []dispatch.RideStatus{dispatch.RideAssigned, dispatch.RideArrived, dispatch.RideInProgress, dispatch.RideCompleted}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("rider saw %v, want %v", statuses, want)
	}
}

func mustStep(t *testing.T, f func() (*dispatch.Ride, error), want dispatch.RideStatus) *dispatch.Ride {
	t.Helper()
	r, err := f()
	if err != nil || r.Status != want {
		t.Fatalf("want %s: %+v %v", want, r, err)
	}
	return r
}

func hasLocation(evs []dispatch.Event) bool {
	for _, ev := range evs {
		if _, ok := ev.(dispatch.DriverLocationEvent); ok {
			return true
		}
	}
	return false
}

func rideStatuses(evs []dispatch.Event) []dispatch.RideStatus {
	var out []dispatch.RideStatus
	for _, ev := range evs {
		if r, ok := ev.(dispatch.RideEvent); ok {
			out = append(out, r.Ride.Status)
		}
	}
	return out
}

// TestAcceptRace: ten drivers accept the same ride at the same instant, a
// hundred times; exactly one wins each time.
func TestAcceptRace(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	const n = 10
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("d%d", i)
		h.driverAt(ids[i], float64(100*(i+1)))
	}
	for round := 0; round < 100; round++ {
		r := h.request(fmt.Sprintf("rider%d", round))
		offers := map[string]string{}
		for _, id := range ids {
			os := h.rec.offersTo(id)
			if len(os) == 0 || os[len(os)-1].RideID != r.ID {
				t.Fatalf("round %d: driver %s got no offer", round, id)
			}
			offers[id] = os[len(os)-1].OfferID
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		var mu sync.Mutex
		winners, taken := 0, 0
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := h.e.Accept(h.ctx, id, offers[id])
				mu.Lock()
				defer mu.Unlock()
				switch dispatch.ErrorCode(err) {
				case "":
					winners++
				case dispatch.CodeOfferTaken:
					taken++
				default:
					t.Errorf("accept: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if winners != 1 || taken != n-1 {
			t.Fatalf("round %d: %d winners, %d taken", round, winners, taken)
		}
		got := h.ride(r.ID)
		onTrip := 0
		for _, id := range ids {
			switch h.driverStatus(id) {
			case dispatch.DriverOnTrip:
				onTrip++
				if id != got.DriverID {
					t.Fatalf("driver %s on trip but ride has %s", id, got.DriverID)
				}
			case dispatch.DriverAvailable:
			default:
				t.Fatalf("driver %s is %s", id, h.driverStatus(id))
			}
		}
		if onTrip != 1 || got.Status != dispatch.RideAssigned {
			t.Fatalf("round %d: on trip %d, ride %s", round, onTrip, got.Status)
		}
		// Free the winner for the next round.
		if _, err := h.e.CancelRide(h.ctx, dispatch.Actor{Role: "rider", ID: got.RiderID}, r.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeclineWidensAndTimeouts(t *testing.T) {
	h := newHarness(t, dispatch.Config{OfferCount: 1, Radius: 1000, RadiusStep: 1000, MaxRadius: 3000,
		OfferTimeout: 10 * time.Second, MatchTimeout: 60 * time.Second, RetryInterval: 2 * time.Second})
	h.driverAt("a", 200)
	h.driverAt("b", 1500)
	r := h.request("rider")
	oa := h.rec.offersTo("a")
	if len(oa) != 1 || len(h.rec.offersTo("b")) != 0 {
		t.Fatalf("first round: a=%v b=%v", oa, h.rec.offersTo("b"))
	}
	if err := h.e.Decline(h.ctx, "a", oa[0].OfferID); err != nil {
		t.Fatal(err)
	}
	// Next round: a excluded, radius widened to 2 km reaches b.
	ob := h.rec.offersTo("b")
	if len(ob) != 1 || len(h.rec.offersTo("a")) != 1 {
		t.Fatalf("second round: b=%v a=%v", ob, h.rec.offersTo("a"))
	}
	if s := h.driverStatus("a"); s != dispatch.DriverAvailable {
		t.Fatalf("decliner is %s", s)
	}
	// b lets it expire.
	h.tick(10 * time.Second)
	if rv := h.rec.revoked("b"); len(rv) != 1 || rv[0].Reason != "expired" {
		t.Fatalf("b revoked: %+v", rv)
	}
	if _, err := h.e.Accept(h.ctx, "b", ob[0].OfferID); dispatch.ErrorCode(err) != dispatch.CodeOfferExpired {
		t.Fatalf("late accept: %v", err)
	}
	// Nobody left: keep the drivers fresh, then the match timeout ends it.
	for i := 0; i < 30; i++ {
		h.clock.Advance(2 * time.Second)
		h.fix("a", 200)
		h.fix("b", 1500)
		if err := h.e.Tick(h.ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := h.ride(r.ID)
	if got.Status != dispatch.RideNoDriver {
		t.Fatalf("after timeout: %s", got.Status)
	}
	st := rideStatuses(h.rec.ride(r.ID))
	if len(st) == 0 || st[len(st)-1] != dispatch.RideNoDriver {
		t.Fatalf("rider not told no_driver: %v", st)
	}
	if len(h.rec.offersTo("a")) != 1 || len(h.rec.offersTo("b")) != 1 {
		t.Fatal("excluded drivers were offered the ride again")
	}
}

func TestStaleAndOfflineDriversNotOffered(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	h.driverAt("stale", 100)
	h.clock.Advance(31 * time.Second)
	h.driverAt("fresh", 3000)
	h.driverAt("off", 50)
	if _, err := h.e.SetDriverStatus(h.ctx, "off", dispatch.DriverOffline); err != nil {
		t.Fatal(err)
	}
	h.request("rider")
	if len(h.rec.offersTo("stale")) != 0 || len(h.rec.offersTo("off")) != 0 || len(h.rec.offersTo("fresh")) != 1 {
		t.Fatalf("stale=%d off=%d fresh=%d", len(h.rec.offersTo("stale")), len(h.rec.offersTo("off")), len(h.rec.offersTo("fresh")))
	}
	near, err := h.e.Nearby(h.ctx, sf, 5000, 10)
	if err != nil || len(near) != 0 {
		// fresh is reserved now, stale is stale, off is offline.
		t.Fatalf("nearby: %+v %v", near, err)
	}
}

func TestCancelThenAcceptRefused(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	h.driverAt("d", 100)
	r := h.request("rider")
	o := h.rec.offersTo("d")[0]
	if _, err := h.e.CancelRide(h.ctx, dispatch.Actor{Role: "rider", ID: "someone-else"}, r.ID); dispatch.ErrorCode(err) != dispatch.CodeNotFound {
		t.Fatalf("stranger cancel: %v", err)
	}
	c, err := h.e.CancelRide(h.ctx, dispatch.Actor{Role: "rider", ID: "rider"}, r.ID)
	if err != nil || c.Status != dispatch.RideCancelled || c.CancelledBy != "rider" {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if rv := h.rec.revoked("d"); len(rv) != 1 || rv[0].Reason != "cancelled" {
		t.Fatalf("revoked: %+v", rv)
	}
	if _, err := h.e.Accept(h.ctx, "d", o.OfferID); dispatch.ErrorCode(err) != dispatch.CodeOfferCanceled {
		t.Fatalf("accept after cancel: %v", err)
	}
	if got := h.ride(r.ID); got.Status != dispatch.RideCancelled || got.DriverID != "" {
		t.Fatalf("ride after refused accept: %+v", got)
	}
	if s := h.driverStatus("d"); s != dispatch.DriverAvailable {
		t.Fatalf("driver: %s", s)
	}
}

func TestDriverCancelAndDisconnectRematch(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	h.driverAt("a", 100)
	h.driverAt("b", 200)
	r := h.request("rider")
	oa := h.rec.offersTo("a")[0]
	if _, err := h.e.Accept(h.ctx, "a", oa.OfferID); err != nil {
		t.Fatal(err)
	}
	// a hands the ride back: it goes back to matching and b is offered it.
	back, err := h.e.CancelRide(h.ctx, dispatch.Actor{Role: "driver", ID: "a"}, r.ID)
	if err != nil || back.Status != dispatch.RideMatching || back.DriverID != "" {
		t.Fatalf("driver cancel: %+v %v", back, err)
	}
	ob := h.rec.offersTo("b")
	if len(ob) != 2 || len(h.rec.offersTo("a")) != 1 {
		t.Fatalf("rematch offers: b=%d a=%d", len(ob), len(h.rec.offersTo("a")))
	}
	if _, err := h.e.Accept(h.ctx, "b", ob[1].OfferID); err != nil {
		t.Fatal(err)
	}
	// b's connection drops: within the grace nothing happens, after it the
	// ride goes back to matching.
	if err := h.e.DriverDisconnected(h.ctx, "b", 0); err != nil {
		t.Fatal(err)
	}
	h.tick(29 * time.Second)
	if s := h.ride(r.ID).Status; s != dispatch.RideAssigned {
		t.Fatalf("within grace: %s", s)
	}
	h.fix("a", 100) // keep a fresh
	h.tick(2 * time.Second)
	got := h.ride(r.ID)
	if got.Status != dispatch.RideMatching {
		t.Fatalf("after grace: %s", got.Status)
	}
	if s := h.driverStatus("b"); s != dispatch.DriverOffline {
		t.Fatalf("vanished driver: %s", s)
	}
	st := rideStatuses(h.rec.ride(r.ID))
	if st[len(st)-1] != dispatch.RideMatching {
		t.Fatalf("rider not told: %v", st)
	}
}

func TestIdempotentRequest(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	req := dispatch.RideRequest{Pickup: sf, Dropoff: geo.Point{Lat: 37.8, Lon: -122.4}}
	a, created, err := h.e.RequestRide(h.ctx, "r", req, "key-1")
	if err != nil || !created {
		t.Fatal(err)
	}
	b, created, err := h.e.RequestRide(h.ctx, "r", req, "key-1")
	if err != nil || created || b.ID != a.ID {
		t.Fatalf("replay: %v %v %v", b.ID, created, err)
	}
	c, created, err := h.e.RequestRide(h.ctx, "other-rider", req, "key-1")
	if err != nil || !created || c.ID == a.ID {
		t.Fatalf("keys are per rider: %v %v", created, err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	h.driverAt("d", 100)
	for _, p := range []geo.Point{{Lat: 91}, {Lon: 181}, {Lat: -90.5}} {
		if _, _, err := h.e.RequestRide(h.ctx, "r", dispatch.RideRequest{Pickup: p, Dropoff: sf}, ""); dispatch.ErrorCode(err) != dispatch.CodeInvalid {
			t.Errorf("pickup %v: %v", p, err)
		}
		if err := h.e.UpdateLocation(h.ctx, "d", dispatch.Fix{Lat: p.Lat, Lon: p.Lon, TS: h.clock.Now().UnixMilli()}); dispatch.ErrorCode(err) != dispatch.CodeInvalid {
			t.Errorf("fix %v: %v", p, err)
		}
	}
	pos, _, ok, _ := dispatch.NewMemLocator().Position(h.ctx, "d")
	_ = pos
	_ = ok
	if _, err := h.e.Accept(h.ctx, "d", "nonsense"); dispatch.ErrorCode(err) != dispatch.CodeNotFound {
		t.Errorf("unknown offer: %v", err)
	}
	if _, err := h.e.Accept(h.ctx, "d", "ride999.1"); dispatch.ErrorCode(err) != dispatch.CodeNotFound {
		t.Errorf("unknown ride offer: %v", err)
	}
	if s := h.e.Stats(); s.RidesRequested != 0 {
		t.Errorf("rejected requests were counted: %+v", s)
	}
	near, err := h.e.Nearby(h.ctx, sf, 1000, 5)
	if err != nil || len(near) != 1 || near[0].ID != "d" || near[0].Distance > 101 {
		t.Fatalf("driver moved by a rejected fix: %+v %v", near, err)
	}
}

func TestSpoofedFixesRejected(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	h.driverAt("d", 0)
	ts := h.clock.Now().UnixMilli()
	// 20 km north one second later: 72 000 km/h.
	err := h.e.UpdateLocation(h.ctx, "d", dispatch.Fix{Lat: sf.Lat + 0.18, Lon: sf.Lon, TS: ts + 1000})
	if dispatch.ErrorCode(err) != dispatch.CodeInvalid {
		t.Fatalf("teleport accepted: %v", err)
	}
	if err := h.e.UpdateLocation(h.ctx, "d", dispatch.Fix{Lat: 0, Lon: 0, TS: ts + 2000}); dispatch.ErrorCode(err) != dispatch.CodeInvalid {
		t.Fatalf("(0,0) accepted: %v", err)
	}
	near, _ := h.e.Nearby(h.ctx, sf, 1000, 5)
	if len(near) != 1 || near[0].Distance > 1 {
		t.Fatalf("rejected fixes moved the driver: %+v", near)
	}
	// 500 m in 60 s (30 km/h) is fine; so is GPS jitter at the same ts.
	if err := h.e.UpdateLocation(h.ctx, "d", dispatch.Fix{Lat: sf.Lat + 500/111195.0, Lon: sf.Lon, TS: ts + 60_000}); err != nil {
		t.Fatal(err)
	}
	if err := h.e.UpdateLocation(h.ctx, "d", dispatch.Fix{Lat: sf.Lat + 520/111195.0, Lon: sf.Lon, TS: ts + 60_000}); err != nil {
		t.Fatalf("jitter: %v", err)
	}
}

// A driver lost after the trip started keeps it: the rider is aboard, so
// the grace timer neither rematches nor fails, and the driver completes
// the trip on reconnect.
func TestDisconnectDuringTripKeepsIt(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	h.driverAt("a", 100)
	r := h.request("rider")
	if _, err := h.e.Accept(h.ctx, "a", h.rec.offersTo("a")[0].OfferID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Arrived(h.ctx, "a", r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Start(h.ctx, "a", r.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.e.DriverDisconnected(h.ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	h.tick(31 * time.Second) // past the 30 s grace
	if got := h.ride(r.ID); got.Status != dispatch.RideInProgress || got.DriverID != "a" {
		t.Fatalf("after grace: %s with %q, want in_progress with a", got.Status, got.DriverID)
	}
	if _, err := h.e.DriverConnected(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got, err := h.e.Complete(h.ctx, "a", r.ID, 0); err != nil || got.Status != dispatch.RideCompleted {
		t.Fatalf("complete after reconnect: %+v, %v", got, err)
	}
}

// The end of an older connection (say on another node) reported after the
// driver connected again changes nothing: the driver stays connected,
// available and matchable. The current session's end takes it offline.
func TestStaleSessionDisconnectIgnored(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	first, err := h.e.DriverConnected(h.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	h.fix("a", 100)
	second, err := h.e.DriverConnected(h.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if first.Driver.Session == second.Driver.Session {
		t.Fatalf("both connections got session %d", first.Driver.Session)
	}
	if err := h.e.DriverDisconnected(h.ctx, "a", first.Driver.Session); err != nil {
		t.Fatal(err)
	}
	st, err := h.e.DriverStateOf(h.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Driver.Connected || st.Driver.Status != dispatch.DriverAvailable {
		t.Fatalf("after the old session ended: connected %v, status %s; want connected and available", st.Driver.Connected, st.Driver.Status)
	}
	if near, _ := h.e.Nearby(h.ctx, sf, 1000, 10); len(near) != 1 {
		t.Fatalf("nearby after the old session ended: %v, want the driver", near)
	}
	if err := h.e.DriverDisconnected(h.ctx, "a", second.Driver.Session); err != nil {
		t.Fatal(err)
	}
	if s := h.driverStatus("a"); s != dispatch.DriverOffline {
		t.Fatalf("after the current session ended: %s, want offline", s)
	}
}

// An accept processed while the driver's disconnect is half done (the
// connection ended after the accept frame was read): the disconnect saw
// the driver reserved, so only Accept can start the grace period. Without
// it the ride would stay assigned to a driver who is gone.
func TestAcceptRacingDisconnectStartsGrace(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	h.driverAt("a", 100)
	r := h.request("rider")
	d, err := h.e.MarkDisconnected(h.ctx, "a")
	if err != nil || d.Status != dispatch.DriverReserved {
		t.Fatalf("mark disconnected: %+v, %v", d, err)
	}
	if _, err := h.e.Accept(h.ctx, "a", h.rec.offersTo("a")[0].OfferID); err != nil {
		t.Fatal(err)
	}
	if err := h.e.AfterDisconnect(h.ctx, d); err != nil { // its decline finds the offer taken
		t.Fatal(err)
	}
	if got := h.ride(r.ID); got.Status != dispatch.RideAssigned || got.DriverID != "a" {
		t.Fatalf("after the accept: %s with %q", got.Status, got.DriverID)
	}
	h.tick(31 * time.Second) // past the 30 s grace
	if got := h.ride(r.ID); got.Status != dispatch.RideMatching || got.DriverID != "" {
		t.Fatalf("after grace: %s with %q, want matching with no driver", got.Status, got.DriverID)
	}
	if s := h.driverStatus("a"); s != dispatch.DriverOffline {
		t.Fatalf("vanished driver: %s, want offline", s)
	}
}

// deadNodes is a dispatch.Presence in which the listed nodes are dead.
type deadNodes map[string]bool

func (d deadNodes) NodeAlive(_ context.Context, node string) (bool, error) { return !d[node], nil }

// Two engines share one state, as two nodes of a cluster do. A driver on
// node a takes a ride and goes silent: while a is alive nothing happens (a
// silent driver may still hold its connection); once a is dead, node b's
// sweep reports the connection's end for a, and after the grace period the
// ride goes back to matching.
func TestSweepReapsDriversOfDeadNode(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	store := dispatch.NewMemStore(clock.Now, 0, 0)
	deps := dispatch.Deps{Rides: store, Drivers: store, Locator: dispatch.NewMemLocator(),
		Locker: dispatch.NewMemLocker(clock.Now), Scheduler: dispatch.NewMemScheduler(), Clock: clock}
	dead := deadNodes{}
	deps.Presence = dead
	rec := newRecorder()
	deps.Notifier = rec
	a, err := dispatch.New(dispatch.Config{NodeID: "a"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dispatch.New(dispatch.Config{NodeID: "b"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.DriverConnected(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if err := a.UpdateLocation(ctx, "d", dispatch.Fix{Lat: sf.Lat, Lon: sf.Lon, TS: clock.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	r, _, err := b.RequestRide(ctx, "rider", dispatch.RideRequest{Pickup: sf, Dropoff: geo.Point{Lat: 37.80, Lon: -122.41}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Accept(ctx, "d", rec.offersTo("d")[0].OfferID); err != nil {
		t.Fatal(err)
	}
	tick := func(d time.Duration) {
		t.Helper()
		clock.Advance(d)
		if err := b.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	status := func() dispatch.RideStatus {
		t.Helper()
		got, err := b.GetRide(ctx, dispatch.Actor{}, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status
	}
	tick(40 * time.Second) // stale, swept; a is alive
	tick(40 * time.Second)
	if s := status(); s != dispatch.RideAssigned {
		t.Fatalf("silent driver on a live node: ride %s, want assigned", s)
	}
	if st, _ := b.DriverStateOf(ctx, "d"); !st.Driver.Connected {
		t.Fatal("silent driver on a live node taken for disconnected")
	}
	// a dies. The driver is swept again only once it is stale again: a
	// last fix arrives first, as it might have just before the kill.
	if err := a.UpdateLocation(ctx, "d", dispatch.Fix{Lat: sf.Lat, Lon: sf.Lon, TS: clock.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	dead["a"] = true
	tick(40 * time.Second) // swept: a is dead, so the connection ended
	if st, _ := b.DriverStateOf(ctx, "d"); st.Driver.Connected {
		t.Fatal("driver of a dead node still connected")
	}
	if s := status(); s != dispatch.RideAssigned {
		t.Fatalf("within the grace period: ride %s, want assigned", s)
	}
	tick(31 * time.Second) // past the 30 s grace
	if s := status(); s != dispatch.RideMatching {
		t.Fatalf("after the grace period: ride %s, want matching", s)
	}
}

// A maximum radius below the first radius is kept by the first round too:
// no driver beyond it is ever offered the ride.
func TestMaxRadiusBelowRadius(t *testing.T) {
	h := newHarness(t, dispatch.Config{MaxRadius: 3000}) // Radius defaults to 5000
	if c := h.e.Config(); c.Radius != 3000 || c.MaxRadius != 3000 {
		t.Fatalf("radius %v, max %v; want 3000, 3000", c.Radius, c.MaxRadius)
	}
	h.driverAt("far", 4000)
	h.driverAt("near", 2500)
	h.request("rider")
	for range 5 {
		h.tick(20 * time.Second)
		h.fix("far", 4000)
		h.fix("near", 2500)
	}
	if n := len(h.rec.offersTo("far")); n != 0 {
		t.Fatalf("driver 4 km away offered %d times with a 3 km maximum", n)
	}
	if n := len(h.rec.offersTo("near")); n == 0 {
		t.Fatal("driver 2.5 km away never offered the ride")
	}
}

// A ride beyond the latitudes drivers can be at is refused, not left to
// end no_driver; the limit itself is allowed.
func TestRideBeyondDriverLatitudes(t *testing.T) {
	h := newHarness(t, dispatch.Config{})
	for _, p := range []geo.Point{{Lat: 86, Lon: 15}, {Lat: -90, Lon: 0}} {
		_, _, err := h.e.RequestRide(h.ctx, "r", dispatch.RideRequest{Pickup: p, Dropoff: sf}, "")
		if dispatch.ErrorCode(err) != dispatch.CodeInvalid {
			t.Errorf("pickup %v: err %v, want invalid_argument", p, err)
		}
		if _, err := h.e.Quote(h.ctx, sf, p); dispatch.ErrorCode(err) != dispatch.CodeInvalid {
			t.Errorf("quote to %v: err %v, want invalid_argument", p, err)
		}
	}
	edge := geo.Point{Lat: dispatch.MaxDriverLat, Lon: 15}
	if _, _, err := h.e.RequestRide(h.ctx, "r", dispatch.RideRequest{Pickup: edge, Dropoff: geo.Point{Lat: 85, Lon: 15}}, ""); err != nil {
		t.Fatalf("pickup at the limit: %v", err)
	}
}

// A driver-reported trip distance the trip's duration cannot explain is
// not charged: the fare falls back to what the engine saw (here the
// estimate). A plausible one is charged as reported.
func TestImplausibleTripDistanceIgnored(t *testing.T) {
	trip := func(t *testing.T, reported float64) *dispatch.Ride {
		h := newHarness(t, dispatch.Config{})
		h.driverAt("d", 100)
		r := h.request("rider")
		if _, err := h.e.Accept(h.ctx, "d", h.rec.offersTo("d")[0].OfferID); err != nil {
			t.Fatal(err)
		}
		mustStep(t, func() (*dispatch.Ride, error) { return h.e.Arrived(h.ctx, "d", r.ID) }, dispatch.RideArrived)
		mustStep(t, func() (*dispatch.Ride, error) { return h.e.Start(h.ctx, "d", r.ID) }, dispatch.RideInProgress)
		h.clock.Advance(300 * time.Millisecond)
		return mustStep(t, func() (*dispatch.Ride, error) { return h.e.Complete(h.ctx, "d", r.ID, reported) }, dispatch.RideCompleted)
	}
	// 10 000 km in 0.3 s.
	got := trip(t, 1e7)
	if got.TripDistM != got.DistanceM || got.FinalFare == nil || got.FinalFare.Amount > got.Fare.Amount {
		t.Fatalf("implausible distance: trip %v m (estimate %v m), final fare %v, fare %v", got.TripDistM, got.DistanceM, got.FinalFare, got.Fare)
	}
	// 900 m in 0.3 s is within the 1 km slack: charged as reported.
	if got := trip(t, 900); got.TripDistM != 900 {
		t.Fatalf("plausible distance: trip %v m, want 900", got.TripDistM)
	}
}

// PathDistance sums the steps of a GPS path in time order and leaves out a
// glitch (a point implying a teleport), which would otherwise add its
// detour twice.
func TestPathDistance(t *testing.T) {
	step := func(i int, lat float64) dispatch.Fix {
		return dispatch.Fix{Lat: lat, Lon: -122.4194, TS: 1_700_000_000_000 + int64(i)*10_000}
	}
	north := func(m float64) float64 { return sf.Lat + m/111195 }
	// 0, 100, 200, (glitch 50 km away), 300 m, 10 s apart, out of order.
	path := []dispatch.Fix{step(1, north(100)), step(0, north(0)), step(2, north(200)), step(3, north(50_000)), step(4, north(300))}
	got := dispatch.PathDistance(path, dispatch.DefaultMaxSpeedKmh)
	if math.Abs(got-300) > 0.5 {
		t.Fatalf("PathDistance = %.1f m, want 300", got)
	}
	if got := dispatch.PathDistance(path[:1], 250); got != 0 {
		t.Fatalf("one point: %v", got)
	}
	if got := dispatch.PathDistance(nil, 250); got != 0 {
		t.Fatalf("no points: %v", got)
	}
}
