package sim

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/trace"
)

// Msg is one server message: its type and the whole raw frame.
type Msg struct {
	Type string
	Raw  json.RawMessage
}

// Conn is a WebSocket connection as the simulator uses it.
type Conn interface {
	Send(ctx context.Context, v any) error
	// Messages is closed when the connection ends.
	Messages() <-chan Msg
	Close() error
}

// Server is the dispatch server as the simulator reaches it.
type Server interface {
	DialDriver(ctx context.Context, driverID string) (Conn, error)
	DialRider(ctx context.Context, rideID, riderID string) (Conn, error)
	// RequestRide returns the new ride's id, or an error whose
	// ErrorCode gives the server's error code.
	RequestRide(ctx context.Context, riderID string, pickup, dropoff geo.Point, idemKey string) (string, error)
}

type mode int

const (
	modeTrace  mode = iota // following the recorded trace
	modeTrip               // driving an assigned ride
	modeRejoin             // after a trip, waiting to reach the trace again
)

type phase int

const (
	toPickup phase = iota
	boarding
	toDropoff
)

type pendingReply struct {
	offerID string
	accept  bool
	at      time.Time
}

// vehicle is one simulated driver app: a trace to follow, a WebSocket, and
// the behaviour of accepting offers and driving trips.
type vehicle struct {
	id    string
	segs  [][]trace.Fix
	cfg   *Config
	col   *collector
	clock nower
	rng   *rand.Rand
	speed float64 // m/s

	conn    Conn
	pos     geo.Point
	hasPos  bool
	online  bool
	lastTS  int64
	mode    mode
	seg     int // cursor into segs
	idx     int // cursor into segs[seg]
	pending []pendingReply
	offers  map[string]float64 // offer id → pickup distance

	rideID          string
	pickup, dropoff geo.Point
	ph              phase
	phaseUntil      time.Time
	tripEnd         time.Time
	lastStep        time.Time
}

// nower tells the simulated time.
type nower interface{ Now() time.Time }

// run drives the vehicle in real time scaled by clock (online mode).
func (v *vehicle) run(ctx context.Context, srv Server, clock *Clock, end time.Time) {
	defer func() {
		if v.online {
			v.col.online.Add(-1)
		}
	}()
	if !v.dial(ctx, srv) {
		return
	}
	defer func() { _ = v.conn.Close() }()
	step := v.cfg.FixEvery
	next := clock.Now()
	for {
		now := clock.Now()
		if !now.Before(end) {
			return
		}
		wake := next
		for _, p := range v.pending {
			if p.at.Before(wake) {
				wake = p.at
			}
		}
		timer := time.NewTimer(max(clock.Real(wake.Sub(now)), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case m, ok := <-v.conn.Messages():
			timer.Stop()
			if !ok {
				v.col.disconnects.Add(1)
				if v.online {
					v.online = false
					v.col.online.Add(-1)
				}
				if !v.dial(ctx, srv) {
					return
				}
				continue
			}
			v.handle(ctx, m)
		case <-timer.C:
		}
		now = clock.Now()
		v.firePending(ctx, now)
		if !now.Before(next) {
			v.step(ctx, now)
			next = now.Add(step)
		}
	}
}

// dial connects (with a few retries) and reads the welcome.
func (v *vehicle) dial(ctx context.Context, srv Server) bool {
	for attempt := 0; attempt < 5; attempt++ {
		c, err := srv.DialDriver(ctx, v.id)
		if err == nil {
			v.conn = c
			v.online = false // the server makes a connecting driver available; step() resyncs
			v.sendStatus(ctx, "offline")
			return true
		}
		v.col.protocolError("dial")
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return false
}

func (v *vehicle) send(ctx context.Context, msg any) {
	if err := v.conn.Send(ctx, msg); err != nil && ctx.Err() == nil {
		v.col.protocolError("send")
	}
}

func (v *vehicle) sendStatus(ctx context.Context, s string) {
	v.send(ctx, map[string]any{"type": "status", "status": s})
}

func (v *vehicle) setOnline(ctx context.Context, on bool) {
	if on == v.online {
		return
	}
	v.online = on
	if on {
		v.col.online.Add(1)
		v.sendStatus(ctx, "available")
	} else {
		v.col.online.Add(-1)
		v.sendStatus(ctx, "offline")
	}
}

func (v *vehicle) sendFix(ctx context.Context, p geo.Point, t time.Time) {
	ts := t.UnixMilli()
	if ts <= v.lastTS {
		ts = v.lastTS + 1
	}
	v.lastTS, v.pos, v.hasPos = ts, p, true
	v.send(ctx, map[string]any{"type": "location", "lat": round6(p.Lat), "lon": round6(p.Lon), "ts": ts})
	v.col.fixesSent.Add(1)
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// traceAt returns the recorded position at t, interpolated between fixes,
// and false when t falls outside every segment (the vehicle is off duty).
func (v *vehicle) traceAt(t time.Time) (geo.Point, bool) {
	for v.seg < len(v.segs) {
		s := v.segs[v.seg]
		if t.Before(s[0].T) {
			return geo.Point{}, false
		}
		if t.After(s[len(s)-1].T) {
			v.seg, v.idx = v.seg+1, 0
			continue
		}
		for v.idx+1 < len(s) && !s[v.idx+1].T.After(t) {
			v.idx++
		}
		a := s[v.idx]
		if v.idx+1 >= len(s) || !t.After(a.T) {
			return a.P, true
		}
		b := s[v.idx+1]
		f := float64(t.Sub(a.T)) / float64(b.T.Sub(a.T))
		return geo.Point{Lat: a.P.Lat + f*(b.P.Lat-a.P.Lat), Lon: a.P.Lon + f*(b.P.Lon-a.P.Lon)}, true
	}
	return geo.Point{}, false
}

func (v *vehicle) step(ctx context.Context, now time.Time) {
	dt := now.Sub(v.lastStep).Seconds()
	if v.lastStep.IsZero() || dt < 0 {
		dt = 0
	}
	v.lastStep = now
	switch v.mode {
	case modeTrace:
		p, ok := v.traceAt(now)
		if !ok {
			v.setOnline(ctx, false)
			return
		}
		v.setOnline(ctx, true)
		v.sendFix(ctx, p, now)
	case modeTrip:
		v.driveTrip(ctx, now, dt)
	case modeRejoin:
		p, ok := v.traceAt(now)
		if v.seg >= len(v.segs) {
			v.setOnline(ctx, false) // the recorded shift is over
			return
		}
		if !ok {
			v.sendFix(ctx, v.pos, now) // parked where the trip ended, available
			return
		}
		// Drive back toward where the recorded vehicle is now, a little
		// faster than usual so that it catches up, then follow the trace.
		q, reached := moveToward(v.pos, p, 1.5*v.speed*dt)
		v.sendFix(ctx, q, now)
		if reached {
			v.mode = modeTrace
		}
	}
}

// driveTrip moves toward the current target at the vehicle's speed and
// reports arrived, start and complete.
func (v *vehicle) driveTrip(ctx context.Context, now time.Time, dt float64) {
	switch v.ph {
	case boarding:
		if now.Before(v.phaseUntil) {
			v.sendFix(ctx, v.pos, now)
			return
		}
		v.send(ctx, map[string]any{"type": "start", "ride_id": v.rideID})
		v.ph = toDropoff
		v.sendFix(ctx, v.pos, now)
		return
	}
	target := v.pickup
	if v.ph == toDropoff {
		target = v.dropoff
	}
	p, arrived := moveToward(v.pos, target, v.speed*dt)
	v.sendFix(ctx, p, now)
	if !arrived {
		return
	}
	if v.ph == toPickup {
		v.send(ctx, map[string]any{"type": "arrived", "ride_id": v.rideID})
		v.ph, v.phaseUntil = boarding, now.Add(v.cfg.BoardTime)
		return
	}
	v.send(ctx, map[string]any{"type": "complete", "ride_id": v.rideID})
	v.mode, v.tripEnd, v.rideID = modeRejoin, now, ""
}

// moveToward returns the point d metres from a toward b (b itself when it
// is nearer) and whether b was reached.
func moveToward(a, b geo.Point, d float64) (geo.Point, bool) {
	total := geo.Distance(a, b)
	if total <= d || total < 1 {
		return b, true
	}
	f := d / total
	return geo.Point{Lat: a.Lat + f*(b.Lat-a.Lat), Lon: a.Lon + f*(b.Lon-a.Lon)}, false
}

func (v *vehicle) firePending(ctx context.Context, now time.Time) {
	kept := v.pending[:0]
	for _, p := range v.pending {
		if now.Before(p.at) {
			kept = append(kept, p)
			continue
		}
		if p.accept {
			v.col.accepts.Add(1)
			v.send(ctx, map[string]any{"type": "accept", "offer_id": p.offerID})
		} else {
			v.col.declines.Add(1)
			v.send(ctx, map[string]any{"type": "decline", "offer_id": p.offerID})
		}
	}
	v.pending = kept
}

func (v *vehicle) dropPending(offerID string) {
	kept := v.pending[:0]
	for _, p := range v.pending {
		if p.offerID != offerID {
			kept = append(kept, p)
		}
	}
	v.pending = kept
}

type offerMsg struct {
	OfferID         string    `json:"offer_id"`
	RideID          string    `json:"ride_id"`
	Pickup          geo.Point `json:"pickup"`
	Dropoff         geo.Point `json:"dropoff"`
	PickupDistanceM float64   `json:"pickup_distance_m"`
}

type rideMsg struct {
	Ride struct {
		ID      string    `json:"id"`
		Status  string    `json:"status"`
		Pickup  geo.Point `json:"pickup"`
		Dropoff geo.Point `json:"dropoff"`
	} `json:"ride"`
}

func (v *vehicle) handle(ctx context.Context, m Msg) {
	now := v.clock.Now()
	switch m.Type {
	case "offer":
		var o offerMsg
		if json.Unmarshal(m.Raw, &o) != nil || o.OfferID == "" {
			v.col.protocolError("bad_offer")
			return
		}
		v.col.offer(o.RideID)
		v.offers[o.OfferID] = o.PickupDistanceM
		delay := v.cfg.AcceptDelayMin
		if span := v.cfg.AcceptDelayMax - v.cfg.AcceptDelayMin; span > 0 {
			delay += time.Duration(v.rng.Int64N(int64(span)))
		}
		v.pending = append(v.pending, pendingReply{offerID: o.OfferID, accept: v.rng.Float64() < v.cfg.AcceptProb, at: now.Add(delay)})
	case "offer_revoked":
		var o struct {
			OfferID string `json:"offer_id"`
			Reason  string `json:"reason"`
		}
		_ = json.Unmarshal(m.Raw, &o)
		v.dropPending(o.OfferID)
		if o.Reason == "taken" {
			v.col.lostRaces.Add(1)
		}
		delete(v.offers, o.OfferID)
	case "assigned":
		var r rideMsg
		if json.Unmarshal(m.Raw, &r) != nil || r.Ride.ID == "" {
			v.col.protocolError("bad_assigned")
			return
		}
		for id, d := range v.offers {
			if rideOf(id) == r.Ride.ID {
				v.col.pickupDistance(d)
			}
			delete(v.offers, id)
		}
		v.pending = v.pending[:0]
		v.mode, v.ph, v.rideID = modeTrip, toPickup, r.Ride.ID
		v.pickup, v.dropoff = r.Ride.Pickup, r.Ride.Dropoff
		if !v.hasPos {
			v.pos = v.pickup
		}
	case "ride_cancelled":
		if v.mode == modeTrip {
			v.mode, v.tripEnd, v.rideID = modeRejoin, now, ""
		}
	case "error":
		var e struct {
			Code string `json:"code"`
			Ref  string `json:"ref"`
		}
		_ = json.Unmarshal(m.Raw, &e)
		if e.Ref == "location" {
			v.col.fixesRejected.Add(1)
		}
		v.col.protocolError(e.Code)
	}
}

// rideOf returns the ride id an offer id names, when the server uses the
// "<ride>.<n>" form; otherwise the offer id itself.
func rideOf(offerID string) string {
	for i := len(offerID) - 1; i > 0; i-- {
		if offerID[i] == '.' {
			return offerID[:i]
		}
	}
	return offerID
}
