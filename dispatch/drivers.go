package dispatch

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/ridehail/dispatch/geo"
)

// Fix is one GPS position report from a driver. TS is the device's Unix ms
// timestamp, used to order fixes; freshness is judged by the server's clock.
type Fix struct {
	Lat      float64  `json:"lat"`
	Lon      float64  `json:"lon"`
	TS       int64    `json:"ts"`
	Heading  *float64 `json:"heading,omitempty"`
	Speed    *float64 `json:"speed,omitempty"`
	Accuracy *float64 `json:"accuracy,omitempty"`
}

// DriverState is what a (re)connecting driver is told: its record, its
// live ride and its pending offer.
type DriverState struct {
	Driver *Driver
	Ride   *Ride
	Offer  *OfferEvent
}

// DriverConnected registers a driver's connection. A driver that was
// offline becomes available; a driver with a live ride or a pending offer
// keeps it (reconnect within the grace period). The state's
// Driver.Session identifies this connection to DriverDisconnected.
func (e *Engine) DriverConnected(ctx context.Context, driverID string) (*DriverState, error) {
	if driverID == "" {
		return nil, Errorf(CodeInvalid, "driver id is required")
	}
	d, err := e.updateDriver(ctx, driverID, true, func(d *Driver) error {
		d.Connected, d.DisconnectedAt = true, 0
		d.Session++
		d.Node = e.cfg.NodeID
		if d.Status == DriverOffline {
			d.Status = DriverAvailable
			d.WantsOffline = false
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := e.loc.SetAvailable(ctx, driverID, d.Status == DriverAvailable); err != nil {
		return nil, err
	}
	_ = e.sched.Cancel(ctx, "driver:"+driverID)
	return e.driverState(ctx, d)
}

// DriverStateOf returns a driver's current state.
func (e *Engine) DriverStateOf(ctx context.Context, driverID string) (*DriverState, error) {
	d, err := e.drivers.Driver(ctx, driverID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, Errorf(CodeNotFound, "driver %q not found", driverID)
		}
		return nil, err
	}
	return e.driverState(ctx, d)
}

func (e *Engine) driverState(ctx context.Context, d *Driver) (*DriverState, error) {
	st := &DriverState{Driver: d}
	if d.Status == DriverOnTrip && d.RideID != "" {
		if r, err := e.rides.Ride(ctx, d.RideID); err == nil {
			st.Ride = r
		}
	}
	if d.Status == DriverReserved && d.OfferRideID != "" {
		if r, err := e.rides.Ride(ctx, d.OfferRideID); err == nil {
			if o := r.offer(d.OfferID); o != nil && o.State == OfferPending {
				st.Offer = &OfferEvent{
					Type: "offer", OfferID: o.ID, RideID: r.ID, Pickup: r.Pickup, Dropoff: r.Dropoff,
					Fare: r.Fare, PickupDistanceM: round1(o.PickupDistanceM), ExpiresAt: o.ExpiresAt,
				}
			}
		}
	}
	return st, nil
}

// DriverDisconnected records that the driver's connection session (the
// Driver.Session DriverConnected returned; 0: whichever is current) is
// gone. An idle driver goes offline at once; a pending offer counts as
// declined; a live ride waits DisconnectGrace for the driver to come back.
// When the driver has connected again since (a newer session, perhaps on
// another node), nothing changes.
func (e *Engine) DriverDisconnected(ctx context.Context, driverID string, session int64) error {
	d, err := e.markDisconnected(ctx, driverID, session)
	if err != nil || d == nil {
		return err
	}
	return e.afterDisconnect(ctx, d)
}

// markDisconnected records the end of the driver's connection; it returns
// nil when session is not the current one.
func (e *Engine) markDisconnected(ctx context.Context, driverID string, session int64) (*Driver, error) {
	now := e.clock.Now()
	superseded := false
	d, err := e.updateDriver(ctx, driverID, false, func(d *Driver) error {
		if session != 0 && d.Session != session {
			superseded = true
			return errNoChange
		}
		d.Connected, d.DisconnectedAt = false, now.UnixMilli()
		if d.Status == DriverAvailable {
			d.Status = DriverOffline
		}
		return nil
	})
	if err != nil || superseded {
		return nil, err
	}
	return d, nil
}

// afterDisconnect acts on the state a driver was left in when its
// connection ended. An accept racing the disconnect may turn reserved into
// on_trip after this read: Accept then starts the grace period itself.
func (e *Engine) afterDisconnect(ctx context.Context, d *Driver) error {
	driverID := d.ID
	switch d.Status {
	case DriverOffline:
		return e.loc.Remove(ctx, driverID)
	case DriverReserved:
		if err := e.Decline(ctx, driverID, d.OfferID); err != nil && !offerAlreadyGone(err) {
			e.log.Warn("decline on disconnect", "driver", driverID, "err", err)
		}
		return e.loc.Remove(ctx, driverID)
	case DriverOnTrip:
		return e.scheduleGrace(ctx, d)
	}
	return nil
}

// scheduleGrace starts the grace period of a disconnected driver holding a
// ride: when it ends, a ride not yet started goes back to matching.
func (e *Engine) scheduleGrace(ctx context.Context, d *Driver) error {
	return e.sched.Schedule(ctx, "driver:"+d.ID, e.graceEnd(d))
}

// graceEnd is when a disconnected driver's grace period ends.
func (e *Engine) graceEnd(d *Driver) time.Time {
	return time.UnixMilli(d.DisconnectedAt).Add(e.cfg.DisconnectGrace)
}

// driverTimer runs when a disconnected driver's grace period ends: a ride
// not yet started goes back to matching; one in progress stays with the
// driver.
func (e *Engine) driverTimer(ctx context.Context, driverID string) error {
	defer func() { _ = e.sched.Cancel(ctx, "driver:"+driverID) }()
	d, err := e.drivers.Driver(ctx, driverID)
	if err != nil {
		return err
	}
	now := e.clock.Now()
	if d.Connected || d.Status != DriverOnTrip || now.UnixMilli() < d.DisconnectedAt+e.cfg.DisconnectGrace.Milliseconds() {
		return nil
	}
	_, err = e.rematch(ctx, driverID, d.RideID, "driver_lost")
	if ErrorCode(err) == CodePrecondition {
		// The trip has started (the rider is aboard) or ended: there is
		// nothing to hand back, and the driver finishes it on reconnect.
		return nil
	}
	return err
}

// SetDriverStatus handles a driver's status message: available or offline.
// Going offline with a pending offer declines it; with a live ride it takes
// effect when the ride ends.
func (e *Engine) SetDriverStatus(ctx context.Context, driverID string, status DriverStatus) (*Driver, error) {
	if status != DriverAvailable && status != DriverOffline {
		return nil, Errorf(CodeInvalid, "status must be \"available\" or \"offline\"")
	}
	d, err := e.updateDriver(ctx, driverID, true, func(d *Driver) error {
		switch {
		case status == DriverAvailable && d.Status == DriverOffline:
			d.Status, d.WantsOffline = DriverAvailable, false
			d.Connected = true
		case status == DriverAvailable:
			d.WantsOffline = false
		case d.Status == DriverAvailable:
			d.Status = DriverOffline
		case d.Status == DriverReserved || d.Status == DriverOnTrip:
			d.WantsOffline = true
		default:
			return errNoChange
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if status == DriverOffline && d.Status == DriverReserved {
		if err := e.Decline(ctx, driverID, d.OfferID); err != nil && !offerAlreadyGone(err) {
			return nil, err
		}
		return e.drivers.Driver(ctx, driverID)
	}
	return d, nil
}

// UpdateLocation ingests one fix: it validates it, moves the driver in the
// index and, while the driver has a live ride, forwards the position with
// an ETA to the ride's rider. Fixes older than the driver's last one are
// rejected.
func (e *Engine) UpdateLocation(ctx context.Context, driverID string, f Fix) error {
	p := geo.Point{Lat: f.Lat, Lon: f.Lon}
	if err := checkIndexable(p); err != nil {
		e.stats.fixesRejected.Add(1)
		return Errorf(CodeInvalid, "location: %s", strings.TrimPrefix(err.Error(), geo.ErrInvalidPoint.Error()+": "))
	}
	if p.Lat == 0 && p.Lon == 0 {
		e.stats.fixesRejected.Add(1)
		return Errorf(CodeInvalid, "location: (0, 0) is not a real fix")
	}
	now := e.clock.Now()
	nowMs := now.UnixMilli()
	if f.TS <= 0 {
		f.TS = nowMs
	}
	if f.TS > nowMs+e.cfg.MaxFixAhead.Milliseconds() {
		e.stats.fixesRejected.Add(1)
		return Errorf(CodeInvalid, "ts is in the future")
	}
	tr := e.tracks.get(driverID)
	tr.mu.Lock()
	if f.TS < tr.lastTS {
		tr.mu.Unlock()
		e.stats.fixesRejected.Add(1)
		return Errorf(CodeStaleFix, "fix is older than the previous one")
	}
	if tr.lastTS > 0 && !surelyWithin(tr.last, p, e.cfg.GPSJitterM) {
		if d := geo.Distance(tr.last, p); d > e.cfg.GPSJitterM {
			dt := float64(f.TS-tr.lastTS) / 1000
			if dt <= 0 || d/dt*3.6 > e.cfg.MaxSpeedKmh {
				tr.mu.Unlock()
				e.stats.fixesRejected.Add(1)
				return Errorf(CodeInvalid, "location: implausible jump of %.0f m in %.0f s (limit %.0f km/h)", d, max(dt, 0), e.cfg.MaxSpeedKmh)
			}
		}
	}
	if tr.checked == 0 || nowMs-tr.checked >= 1000 {
		e.refreshTrack(ctx, driverID, tr, nowMs)
	}
	prev, hadPrev := tr.last, tr.lastTS > 0
	tr.lastTS, tr.last = f.TS, p
	var fwd *DriverLocationEvent
	if r := tr.ride; r != nil {
		if r.status == RideInProgress && hadPrev {
			r.odometer += geo.Distance(prev, p)
		}
		target := r.pickup
		if r.status == RideInProgress {
			target = r.dropoff
		}
		fwd = &DriverLocationEvent{Type: "driver_location", RideID: r.id, Lat: p.Lat, Lon: p.Lon, TS: f.TS,
			ETAS: math.Round(e.eta(p, target))}
	}
	tr.mu.Unlock()
	if err := e.loc.Update(ctx, driverID, p, nowMs); err != nil {
		e.stats.fixesRejected.Add(1)
		return Errorf(CodeInvalid, "%v", err)
	}
	e.stats.fixesAccepted.Add(1)
	if e.cfg.FixLag != nil {
		if lag := nowMs - f.TS; lag > -3_600_000 && lag < 3_600_000 {
			e.cfg.FixLag(time.Duration(lag) * time.Millisecond)
		}
	}
	if fwd != nil {
		e.notify.NotifyRide(ctx, fwd.RideID, *fwd)
	}
	return nil
}

// surelyWithin reports whether a and b are within m metres by a bound
// cheaper than geo.Distance (no trigonometry) that never underestimates
// it: R·√(Δφ² + Δλ²), the length of the path straight in latitude and
// longitude, is at least the great-circle distance. It answers false when
// unsure (the caller then measures), with a margin for rounding, so that
// it never changes a decision geo.Distance would take. Most fixes move a
// few metres: this spares the jump check its haversine.
func surelyWithin(a, b geo.Point, m float64) bool {
	const rad = math.Pi / 180
	dLon := b.Lon - a.Lon
	if dLon > 180 {
		dLon -= 360
	} else if dLon < -180 {
		dLon += 360
	}
	dPhi, dLam := (b.Lat-a.Lat)*rad, dLon*rad
	bound := 0.9999 * m / geo.EarthRadius
	return dPhi*dPhi+dLam*dLam <= bound*bound
}

// eta estimates seconds to drive from a to b.
func (e *Engine) eta(a, b geo.Point) float64 {
	return geo.Distance(a, b) * e.cfg.DetourFactor / (e.cfg.AvgSpeedKmh / 3.6)
}

// refreshTrack re-reads the driver's record (and live ride) into its
// track. tr.mu is held.
func (e *Engine) refreshTrack(ctx context.Context, driverID string, tr *track, nowMs int64) {
	tr.checked = nowMs
	d, err := e.drivers.Driver(ctx, driverID)
	if err != nil || d.Status != DriverOnTrip || d.RideID == "" {
		tr.ride = nil
		return
	}
	r, err := e.rides.Ride(ctx, d.RideID)
	if err != nil {
		tr.ride = nil
		return
	}
	if tr.ride == nil || tr.ride.id != r.ID {
		tr.ride = &trackRide{id: r.ID} // a new ride: the odometer starts at 0
	}
	tr.ride.status, tr.ride.pickup, tr.ride.dropoff = r.Status, r.Pickup, r.Dropoff
}

// Nearby returns the available, fresh drivers within radius metres of
// center, nearest first, at most limit.
func (e *Engine) Nearby(ctx context.Context, center geo.Point, radius float64, limit int) ([]Candidate, error) {
	if err := validatePoint("center", center); err != nil {
		return nil, err
	}
	if radius <= 0 || radius > 50000 || math.IsNaN(radius) {
		return nil, Errorf(CodeInvalid, "radius_m must be within (0, 50000]")
	}
	if limit <= 0 || limit > 100 {
		return nil, Errorf(CodeInvalid, "limit must be within [1, 100]")
	}
	seenAfter := e.clock.Now().Add(-e.cfg.StaleAfter).UnixMilli()
	return e.loc.Nearest(ctx, center, radius, limit, seenAfter, nil)
}

// track is the engine's per-driver ingest state on this node: the last
// fix, and a cache (refreshed at most once a second, and invalidated on
// every status change made here) of the driver's live ride. It is kept
// small (48 bytes): every driver has one, on a trip or not.
type track struct {
	mu      sync.Mutex
	lastTS  int64
	last    geo.Point
	checked int64
	ride    *trackRide // the live ride, while the driver is on one
}

// trackRide is what a track caches of the driver's live ride, and the
// distance driven on it as seen here.
type trackRide struct {
	id       string
	status   RideStatus
	pickup   geo.Point
	dropoff  geo.Point
	odometer float64
}

type trackTable struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[string]*track
	}
}

func (t *trackTable) init() {
	for i := range t.shards {
		t.shards[i].m = make(map[string]*track)
	}
}

func (t *trackTable) get(id string) *track {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	s := &t.shards[h%uint32(len(t.shards))]
	s.mu.Lock()
	tr, ok := s.m[id]
	if !ok {
		tr = &track{}
		s.m[id] = tr
	}
	s.mu.Unlock()
	return tr
}

func (t *trackTable) invalidate(id string) {
	tr := t.get(id)
	tr.mu.Lock()
	tr.checked = 0
	tr.mu.Unlock()
}

// odometer returns the distance driven on the current trip, as seen here.
func (t *trackTable) odometer(id, rideID string) float64 {
	tr := t.get(id)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.ride == nil || tr.ride.id != rideID {
		return 0
	}
	return tr.ride.odometer
}

// offerAlreadyGone reports whether err from Decline says the offer had
// already ended (taken by another driver, expired, cancelled, or gone):
// for a driver going offline or away that is success, and the offer's
// offer_revoked tells the driver.
func offerAlreadyGone(err error) bool {
	switch ErrorCode(err) {
	case CodeNotFound, CodeOfferTaken, CodeOfferExpired, CodeOfferCanceled:
		return true
	}
	return false
}

// reapOrphans handles drivers the sweep found silent for StaleAfter whose
// record still says connected, on another node: if that node is dead (no
// heartbeat), nobody will report the connection's end, so it is reported
// here, for the session the dead node held. The driver then gets the usual
// grace period; a driver who reconnects elsewhere meanwhile has a newer
// session, which this does not touch. A live node's silent driver is left
// alone: it still holds the connection.
func (e *Engine) reapOrphans(ctx context.Context, swept []string) {
	if e.nodes == nil || len(swept) == 0 {
		return
	}
	alive := make(map[string]bool)
	for _, id := range swept {
		d, err := e.drivers.Driver(ctx, id)
		if err != nil || !d.Connected || d.Node == "" || d.Node == e.cfg.NodeID {
			continue
		}
		ok, known := alive[d.Node]
		if !known {
			if ok, err = e.nodes.NodeAlive(ctx, d.Node); err != nil {
				e.log.Warn("node presence", "node", d.Node, "err", err)
				return
			}
			alive[d.Node] = ok
		}
		if ok {
			continue
		}
		e.log.Info("driver's node is gone: connection ended", "driver", id, "node", d.Node)
		if err := e.DriverDisconnected(ctx, id, d.Session); err != nil {
			e.log.Warn("disconnect orphaned driver", "driver", id, "err", err)
		}
	}
}
