package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

// Actor identifies who makes a request.
type Actor struct {
	Role string // "rider", "driver" or "" for the open development mode's anonymous caller
	ID   string
}

// Roles.
const (
	RoleRider  = "rider"
	RoleDriver = "driver"
)

// canSee reports whether a may read ride r.
func (a Actor) canSee(r *Ride) bool {
	switch a.Role {
	case RoleRider:
		return r.RiderID == a.ID
	case RoleDriver:
		return r.DriverID == a.ID
	}
	return a.ID == "" // anonymous: open development mode only
}

// GetRide returns ride id as seen by a. A ride a may not see is reported as
// not found.
func (e *Engine) GetRide(ctx context.Context, a Actor, id string) (*Ride, error) {
	r, err := e.rides.Ride(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, Errorf(CodeNotFound, "ride %q not found", id)
		}
		return nil, fmt.Errorf("load ride: %w", err)
	}
	if !a.canSee(r) {
		return nil, Errorf(CodeNotFound, "ride %q not found", id)
	}
	return r, nil
}

// driverStep applies a driver's trip transition (arrived, start, complete)
// to a ride the driver holds.
func (e *Engine) driverStep(ctx context.Context, driverID, rideID string, from, to RideStatus, apply func(r *Ride, ob *outbox) error) (*Ride, error) {
	r, err := e.mutateRide(ctx, rideID, func(r *Ride, ob *outbox) error {
		if r.DriverID != driverID {
			return Errorf(CodeNotFound, "ride %q not found", rideID)
		}
		if r.Status == to {
			return errNoChange // a retried message
		}
		if r.Status != from {
			return Errorf(CodePrecondition, "cannot go from %s to %s", r.Status, to)
		}
		now := e.clock.Now().UnixMilli()
		r.Status = to
		switch to {
		case RideArrived:
			r.ArrivedAt = now
		case RideInProgress:
			r.StartedAt = now
		case RideCompleted:
			r.CompletedAt = now
		}
		if apply != nil {
			if err := apply(r, ob); err != nil {
				return err
			}
		}
		ob.toRide(r.ID, RideEvent{Type: "ride", Ride: r})
		return nil
	})
	if err == nil {
		e.tracks.invalidate(driverID)
	}
	return r, err
}

// Arrived marks the driver at the pickup.
func (e *Engine) Arrived(ctx context.Context, driverID, rideID string) (*Ride, error) {
	return e.driverStep(ctx, driverID, rideID, RideAssigned, RideArrived, nil)
}

// Start marks the rider picked up.
func (e *Engine) Start(ctx context.Context, driverID, rideID string) (*Ride, error) {
	return e.driverStep(ctx, driverID, rideID, RideArrived, RideInProgress, nil)
}

// DefaultMaxSpeedKmh is the default Config.MaxSpeedKmh: the fastest move
// a fix may imply from the previous one.
const DefaultMaxSpeedKmh = 250

// jumpFloorM is the move that always passes the speed check, whatever the
// time between two fixes (GPS noise between fixes a second apart).
const jumpFloorM = 100

// PathDistance is the length in metres of a trip's GPS path: the sum of
// great-circle steps between its points in ts order, leaving out a point
// that implies moving faster than maxSpeedKmh from the last one kept
// (moves under 100 m always count), so that a GPS glitch does not add its
// detour twice.
func PathDistance(path []Fix, maxSpeedKmh float64) float64 {
	pts := slices.Clone(path)
	slices.SortStableFunc(pts, func(a, b Fix) int { return cmp.Compare(a.TS, b.TS) })
	var total float64
	for i, prev := 1, 0; i < len(pts); i++ {
		a, b := pts[prev], pts[i]
		d := geo.Distance(geo.Point{Lat: a.Lat, Lon: a.Lon}, geo.Point{Lat: b.Lat, Lon: b.Lon})
		if d > jumpFloorM && d > float64(b.TS-a.TS)/1000*maxSpeedKmh/3.6 {
			continue
		}
		total += d
		prev = i
	}
	return total
}

// implausibleSlackM is added to the distance a trip's duration allows at
// MaxSpeedKmh before a driver-reported distance is refused: GPS noise and
// clock granularity on short trips.
const implausibleSlackM = 1000

// Complete ends the trip. pathDistanceM is the trip's driven distance when
// the driver reports it (0 otherwise: the distance is taken from the fixes
// this node saw during the trip, and failing that the estimate). A
// reported distance the trip's duration cannot explain (faster than
// MaxSpeedKmh, plus 1 km) is ignored the same way. The final fare is
// computed and the driver is free again.
func (e *Engine) Complete(ctx context.Context, driverID, rideID string, pathDistanceM float64) (*Ride, error) {
	return e.driverStep(ctx, driverID, rideID, RideInProgress, RideCompleted, func(r *Ride, ob *outbox) error {
		dur := float64(r.CompletedAt-r.StartedAt) / 1000
		dist := pathDistanceM
		if limit := dur*e.cfg.MaxSpeedKmh/3.6 + implausibleSlackM; dist > limit {
			// Farther than the trip's duration allows at the top speed a
			// fix may imply: the driver's figure is not charged; the
			// fixes the engine saw are.
			e.log.Warn("implausible trip distance ignored", "ride", r.ID, "driver", driverID,
				"distance_m", dist, "duration_s", dur, "limit_m", limit)
			dist = 0
		}
		if dist <= 0 {
			dist = e.tracks.odometer(driverID, r.ID)
		}
		if dist <= 0 {
			dist = r.DistanceM
		}
		r.TripDistM, r.TripDurS = round1(dist), round1(dur)
		fare, err := e.finalFare(r, dist, dur)
		if err != nil {
			return err
		}
		r.FinalFare = &fare
		e.freeDriver(ctx, driverID, r.ID)
		e.stats.ridesCompleted.Add(1)
		return nil
	})
}

// freeDriver ends a driver's live ride: available again, or offline when it
// asked for that or is disconnected.
func (e *Engine) freeDriver(ctx context.Context, driverID, rideID string) {
	e.unassignDriver(ctx, driverID, rideID)
	_ = e.sched.Cancel(ctx, "driver:"+driverID)
}

// CancelRide cancels a ride for its rider (or, with role driver, hands an
// assigned ride back: the ride goes back to matching). Riders may cancel
// while the ride is matching, assigned or arrived.
func (e *Engine) CancelRide(ctx context.Context, a Actor, rideID string) (*Ride, error) {
	if a.Role == RoleDriver {
		return e.rematch(ctx, a.ID, rideID, "driver")
	}
	r, err := e.mutateRide(ctx, rideID, func(r *Ride, ob *outbox) error {
		if !a.canSee(r) {
			return Errorf(CodeNotFound, "ride %q not found", rideID)
		}
		switch r.Status {
		case RideCancelled:
			return errNoChange
		case RideMatching, RideAssigned, RideArrived:
		default:
			return Errorf(CodePrecondition, "cannot cancel a ride that is %s", r.Status)
		}
		by := "rider"
		if a.Role == "" {
			by = "system"
		}
		e.revokePending(ctx, r, ob, OfferCancelled, "cancelled")
		if r.DriverID != "" {
			e.freeDriver(ctx, r.DriverID, r.ID)
			ob.toDriver(r.DriverID, RideCancelledEvent{Type: "ride_cancelled", RideID: r.ID, By: by})
		}
		r.Status, r.CancelledAt, r.CancelledBy = RideCancelled, e.clock.Now().UnixMilli(), by
		ob.cancelTimer("ride:" + r.ID)
		ob.toRide(r.ID, RideEvent{Type: "ride", Ride: r})
		e.stats.ridesCancelled.Add(1)
		return nil
	})
	return r, err
}

// rematch sends a ride whose driver cancelled or vanished back to matching,
// excluding that driver, with a fresh matching deadline.
func (e *Engine) rematch(ctx context.Context, driverID, rideID, by string) (*Ride, error) {
	return e.mutateRide(ctx, rideID, func(r *Ride, ob *outbox) error {
		if r.DriverID != driverID {
			return Errorf(CodeNotFound, "ride %q not found", rideID)
		}
		if r.Status != RideAssigned && r.Status != RideArrived {
			return Errorf(CodePrecondition, "cannot hand back a ride that is %s", r.Status)
		}
		now := e.clock.Now()
		e.freeDriver(ctx, driverID, r.ID)
		ob.toDriver(driverID, RideCancelledEvent{Type: "ride_cancelled", RideID: r.ID, By: by})
		r.Status, r.DriverID, r.AssignedAt, r.ArrivedAt = RideMatching, "", 0, 0
		r.Match.Excluded = append(r.Match.Excluded, driverID)
		r.Match.Round, r.Match.NextAttempt = 0, now.UnixMilli()
		r.Match.Deadline = now.Add(e.cfg.MatchTimeout).UnixMilli()
		e.stats.rematched.Add(1)
		if err := e.advance(ctx, r, ob); err != nil {
			return err
		}
		ob.toRide(r.ID, RideEvent{Type: "ride", Ride: r})
		return nil
	})
}

// Rate records a's rating of the other side of a completed ride.
func (e *Engine) Rate(ctx context.Context, a Actor, rideID string, stars int, comment string) (*Ride, error) {
	if stars < 1 || stars > 5 {
		return nil, Errorf(CodeInvalid, "stars must be an integer within [1, 5]")
	}
	comment = strings.TrimSpace(comment)
	if len(comment) > 1000 {
		return nil, Errorf(CodeInvalid, "comment must be at most 1000 bytes")
	}
	return e.mutateRide(ctx, rideID, func(r *Ride, ob *outbox) error {
		if !a.canSee(r) || a.Role == "" {
			return Errorf(CodeNotFound, "ride %q not found", rideID)
		}
		if r.Status != RideCompleted {
			return Errorf(CodePrecondition, "only a completed ride can be rated")
		}
		rt := &Rating{Stars: stars, Comment: comment, At: e.clock.Now().UnixMilli()}
		slot := &r.RiderRating
		if a.Role == RoleDriver {
			slot = &r.DriverRating
		}
		if *slot != nil {
			return Errorf(CodeConflict, "ride already rated")
		}
		*slot = rt
		return nil
	})
}

// finalFare settles a completed trip with the pricer.
func (e *Engine) finalFare(r *Ride, distM, durS float64) (pricing.Money, error) {
	b := pricing.Booking{Region: r.Region, Fare: r.Fare, Surge: r.Surge, DistanceM: r.DistanceM, DurationS: r.DurationS, Quoted: r.QuoteID != ""}
	s, err := e.pricer.FinalFare(b, distM, max(durS, 0))
	if err != nil {
		return pricing.Money{}, fmt.Errorf("final fare: %w", err)
	}
	return s.Fare, nil
}
