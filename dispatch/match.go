package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

// RideRequest is a rider's request for a ride.
type RideRequest struct {
	Pickup  geo.Point `json:"pickup"`
	Dropoff geo.Point `json:"dropoff"`
	QuoteID string    `json:"quote_id,omitempty"`
}

// RequestRide prices and stores a new ride in status matching and sends the
// first round of offers. With a non-empty idemKey a repeated request of the
// same rider returns the ride the first one created (created=false).
func (e *Engine) RequestRide(ctx context.Context, riderID string, req RideRequest, idemKey string) (r *Ride, created bool, err error) {
	if riderID == "" {
		return nil, false, Errorf(CodeInvalid, "rider id is required")
	}
	if err := validatePlace("pickup", req.Pickup); err != nil {
		return nil, false, err
	}
	if err := validatePlace("dropoff", req.Dropoff); err != nil {
		return nil, false, err
	}
	if len(idemKey) > 255 {
		return nil, false, Errorf(CodeInvalid, "Idempotency-Key must be at most 255 bytes")
	}
	// A replay returns the ride the key created, before any validation
	// that depends on time (an expired quote) or on the body.
	if r, ok, err := e.ReplayRide(ctx, riderID, idemKey); err != nil || ok {
		return r, false, err
	}
	now := e.clock.Now()
	ride := &Ride{
		ID: e.cfg.NewID(), Status: RideMatching, RiderID: riderID,
		Pickup: req.Pickup, Dropoff: req.Dropoff,
		CreatedAt: now.UnixMilli(), UpdatedAt: now.UnixMilli(),
		Match: Matching{Deadline: now.Add(e.cfg.MatchTimeout).UnixMilli(), NextAttempt: now.UnixMilli()},
	}
	if req.QuoteID != "" {
		q, err := e.pricer.VerifyQuote(req.QuoteID, req.Pickup, req.Dropoff)
		if err != nil {
			return nil, false, quoteError(err)
		}
		ride.QuoteID, ride.Fare, ride.Surge = req.QuoteID, q.Fare, q.Surge
		ride.DistanceM, ride.DurationS, ride.Region = q.DistanceM, q.DurationS, q.Region
	} else {
		est, err := e.pricer.Estimate(req.Pickup, req.Dropoff)
		if err != nil {
			return nil, false, Errorf(CodeInvalid, "%v", err)
		}
		ride.Fare, ride.Surge, ride.Region = est.Fare, est.Surge, est.Region
		ride.DistanceM, ride.DurationS = est.DistanceM, est.DurationS
	}
	stored, created, err := e.rides.CreateRide(ctx, ride, idemStoreKey(riderID, idemKey))
	if err != nil {
		return nil, false, fmt.Errorf("create ride: %w", err)
	}
	if !created {
		return stored, false, nil
	}
	e.stats.ridesRequested.Add(1)
	e.pricer.RecordDemand(req.Pickup)
	r, err = e.mutateRide(ctx, stored.ID, func(r *Ride, ob *outbox) error {
		return e.advance(ctx, r, ob)
	})
	if err != nil {
		// The ride is stored and its timer will retry the round.
		_ = e.sched.Schedule(ctx, "ride:"+stored.ID, now.Add(e.cfg.RetryInterval))
		e.log.Warn("first round", "ride", stored.ID, "err", err)
		return stored, true, nil
	}
	return r, true, nil
}

// ReplayRide returns the ride rider's idempotency key created, if any
// (ok false when the key is empty, unknown or expired).
func (e *Engine) ReplayRide(ctx context.Context, riderID, idemKey string) (r *Ride, ok bool, err error) {
	if idemKey == "" || riderID == "" {
		return nil, false, nil
	}
	r, err = e.rides.RideByKey(ctx, idemStoreKey(riderID, idemKey))
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("idempotency key: %w", err)
	}
	return r, true, nil
}

// idemStoreKey scopes an Idempotency-Key to its rider.
func idemStoreKey(riderID, idemKey string) string {
	if idemKey == "" {
		return ""
	}
	return riderID + "\x00" + idemKey
}

func quoteError(err error) error {
	switch {
	case errors.Is(err, pricing.ErrQuoteExpired):
		return Errorf(CodeInvalid, "quote expired: request a new quote")
	case errors.Is(err, pricing.ErrQuoteMismatch):
		return Errorf(CodeInvalid, "quote does not match pickup and dropoff")
	default:
		return Errorf(CodeInvalid, "invalid quote_id")
	}
}

func validatePoint(name string, p geo.Point) error {
	if err := p.Validate(); err != nil {
		return Errorf(CodeInvalid, "%s: %s", name, strings.TrimPrefix(err.Error(), geo.ErrInvalidPoint.Error()+": "))
	}
	return nil
}

// validatePlace checks a ride's pickup or drop-off: a valid point where a
// driver can be. Driver positions stop at the Web Mercator limit (as Redis
// GEO does), so a ride beyond it could only end no_driver.
func validatePlace(name string, p geo.Point) error {
	if err := validatePoint(name, p); err != nil {
		return err
	}
	if p.Lat > MaxDriverLat || p.Lat < -MaxDriverLat {
		return Errorf(CodeInvalid, "%s: lat must be within [-%v, %v], where drivers can be, got %v", name, MaxDriverLat, MaxDriverLat, p.Lat)
	}
	return nil
}

// Quote prices a prospective ride and signs the price.
func (e *Engine) Quote(ctx context.Context, pickup, dropoff geo.Point) (pricing.Quote, error) {
	if err := validatePlace("pickup", pickup); err != nil {
		return pricing.Quote{}, err
	}
	if err := validatePlace("dropoff", dropoff); err != nil {
		return pricing.Quote{}, err
	}
	q, err := e.pricer.Quote(pickup, dropoff)
	if err != nil {
		return pricing.Quote{}, Errorf(CodeInvalid, "%v", err)
	}
	return q, nil
}

// advance moves a matching ride forward at the current time: it expires
// due offers, ends the search at the matching deadline, starts a new round
// when no offer is pending, and schedules the next wake-up.
func (e *Engine) advance(ctx context.Context, r *Ride, ob *outbox) error {
	key := "ride:" + r.ID
	if r.Status != RideMatching {
		ob.cancelTimer(key)
		return nil
	}
	now := e.clock.Now()
	nowMs := now.UnixMilli()
	for i := range r.Match.Offers {
		o := &r.Match.Offers[i]
		if o.State == OfferPending && o.ExpiresAt <= nowMs {
			o.State = OfferExpired
			r.Match.Excluded = append(r.Match.Excluded, o.DriverID)
			e.stats.offersExpired.Add(1)
			e.releaseDriver(ctx, o.DriverID, o.ID, ob)
			ob.toDriver(o.DriverID, OfferRevokedEvent{Type: "offer_revoked", OfferID: o.ID, RideID: r.ID, Reason: "expired"})
		}
	}
	if nowMs >= r.Match.Deadline {
		e.revokePending(ctx, r, ob, OfferExpired, "expired")
		r.Status = RideNoDriver
		e.stats.ridesNoDriver.Add(1)
		ob.cancelTimer(key)
		ob.toRide(r.ID, RideEvent{Type: "ride", Ride: r})
		return nil
	}
	if r.pendingOffers() == 0 && nowMs >= r.Match.NextAttempt {
		if err := e.startRound(ctx, r, ob, now); err != nil {
			return err
		}
	}
	next := r.Match.Deadline
	if r.pendingOffers() == 0 {
		next = min(next, r.Match.NextAttempt)
	}
	for _, o := range r.Match.Offers {
		if o.State == OfferPending {
			next = min(next, o.ExpiresAt)
		}
	}
	ob.schedule(key, time.UnixMilli(next))
	return nil
}

// startRound finds the nearest available, fresh drivers not yet tried,
// reserves them and offers them the ride.
func (e *Engine) startRound(ctx context.Context, r *Ride, ob *outbox, now time.Time) error {
	radius := min(e.cfg.Radius+float64(r.Match.Round)*e.cfg.RadiusStep, e.cfg.MaxRadius)
	want := e.cfg.OfferCount
	if e.cfg.Policy == PolicySequential {
		want = 1
	}
	seenAfter := now.Add(-e.cfg.StaleAfter).UnixMilli()
	cands, err := e.loc.Nearest(ctx, r.Pickup, radius, want+5, seenAfter, r.excluded)
	if err != nil {
		return fmt.Errorf("find drivers: %w", err)
	}
	r.Match.Radius = radius
	expires := now.Add(e.cfg.OfferTimeout).UnixMilli()
	made := 0
	for _, c := range cands {
		if made == want {
			break
		}
		r.Match.Seq++
		offerID := r.ID + "." + strconv.Itoa(r.Match.Seq)
		if !e.reserveDriver(ctx, c.ID, r.ID, offerID, ob) {
			continue
		}
		made++
		r.Match.Offers = append(r.Match.Offers, Offer{
			ID: offerID, DriverID: c.ID, ExpiresAt: expires,
			PickupDistanceM: c.Distance, State: OfferPending,
		})
		ob.toDriver(c.ID, OfferEvent{
			Type: "offer", OfferID: offerID, RideID: r.ID, Pickup: r.Pickup, Dropoff: r.Dropoff,
			Fare: r.Fare, PickupDistanceM: round1(c.Distance), ExpiresAt: expires,
		})
	}
	e.stats.offersSent.Add(int64(made))
	if made == 0 || e.cfg.Policy == PolicyBroadcast {
		r.Match.Round++
	}
	if made == 0 {
		r.Match.NextAttempt = now.Add(e.cfg.RetryInterval).UnixMilli()
	}
	return nil
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// reserveDriver atomically moves an available, connected driver to
// reserved for offerID. On a failed ride write the reservation is undone.
func (e *Engine) reserveDriver(ctx context.Context, driverID, rideID, offerID string, ob *outbox) bool {
	_, err := e.updateDriver(ctx, driverID, false, func(d *Driver) error {
		if d.Status != DriverAvailable || !d.Connected {
			return errSkip
		}
		d.Status, d.OfferID, d.OfferRideID = DriverReserved, offerID, rideID
		return nil
	})
	if err != nil {
		return false
	}
	ob.onAbort(func(ctx context.Context) { e.releaseDriver(ctx, driverID, offerID, nil) })
	return true
}

var errSkip = errors.New("skip")

// releaseDriver returns a driver reserved for offerID to available (or
// offline when it asked for that or is disconnected). It does nothing when
// the driver is no longer reserved for that offer.
func (e *Engine) releaseDriver(ctx context.Context, driverID, offerID string, _ *outbox) {
	_, err := e.updateDriver(ctx, driverID, false, func(d *Driver) error {
		if d.Status != DriverReserved || d.OfferID != offerID {
			return errNoChange
		}
		d.OfferID, d.OfferRideID = "", ""
		d.Status = idleStatus(d)
		return nil
	})
	if err != nil && ErrorCode(err) != CodeNotFound {
		e.log.Warn("release driver", "driver", driverID, "err", err)
	}
}

// idleStatus is the status a driver returns to when it has no offer and no
// ride.
func idleStatus(d *Driver) DriverStatus {
	if !d.Connected || d.WantsOffline {
		d.WantsOffline = false
		return DriverOffline
	}
	return DriverAvailable
}

// revokePending ends every pending offer of r with state st and tells the
// drivers why.
func (e *Engine) revokePending(ctx context.Context, r *Ride, ob *outbox, st OfferState, reason string) {
	for i := range r.Match.Offers {
		o := &r.Match.Offers[i]
		if o.State != OfferPending {
			continue
		}
		o.State = st
		e.releaseDriver(ctx, o.DriverID, o.ID, ob)
		ob.toDriver(o.DriverID, OfferRevokedEvent{Type: "offer_revoked", OfferID: o.ID, RideID: r.ID, Reason: reason})
	}
}

func rideOfOffer(offerID string) (string, bool) {
	i := strings.LastIndexByte(offerID, '.')
	if i <= 0 || i == len(offerID)-1 {
		return "", false
	}
	if _, err := strconv.Atoi(offerID[i+1:]); err != nil {
		return "", false
	}
	return offerID[:i], true
}

// offerGone maps a non-pending offer to the error its late accept gets.
func offerGone(o *Offer) error {
	switch o.State {
	case OfferTaken:
		return &Error{Code: CodeOfferTaken, Message: "the ride was taken by another driver"}
	case OfferExpired:
		return &Error{Code: CodeOfferExpired, Message: "the offer expired"}
	case OfferCancelled:
		return &Error{Code: CodeOfferCanceled, Message: "the ride was cancelled"}
	case OfferDeclined:
		return &Error{Code: CodePrecondition, Message: "the offer was declined"}
	}
	return &Error{Code: CodePrecondition, Message: "the offer is " + string(o.State)}
}

// Accept resolves a driver's acceptance of an offer. Exactly one accept of
// a ride wins: it holds the per-ride lock, claims the driver with a
// compare-and-set, and writes the assignment with a fenced compare-and-set
// on the ride's version. A losing accept gets an *Error with code
// offer_taken (or offer_expired, offer_cancelled) and changes nothing.
func (e *Engine) Accept(ctx context.Context, driverID, offerID string) (*Ride, error) {
	rideID, ok := rideOfOffer(offerID)
	if !ok {
		return nil, Errorf(CodeNotFound, "offer %q not found", offerID)
	}
	var already bool
	r, err := e.mutateRide(ctx, rideID, func(r *Ride, ob *outbox) error {

		o := r.offer(offerID)
		if o == nil || o.DriverID != driverID {
			return Errorf(CodeNotFound, "offer %q not found", offerID)
		}
		if o.State == OfferAccepted && r.DriverID == driverID {
			already = true
			return errNoChange
		}
		if o.State != OfferPending {
			return offerGone(o)
		}
		if r.Status != RideMatching {
			return &Error{Code: CodeOfferTaken, Message: "the ride is no longer matching"}
		}
		now := e.clock.Now()
		if now.UnixMilli() >= o.ExpiresAt {
			return &Error{Code: CodeOfferExpired, Message: "the offer expired"}
		}
		d, err := e.updateDriver(ctx, driverID, false, func(d *Driver) error {
			if d.Status != DriverReserved || d.OfferID != offerID {
				return Errorf(CodePrecondition, "driver is %s, not reserved for this offer", d.Status)
			}
			d.Status, d.RideID, d.OfferID, d.OfferRideID = DriverOnTrip, r.ID, "", ""
			return nil
		})
		if err != nil {
			return err
		}
		ob.onAbort(func(ctx context.Context) { e.unassignDriver(ctx, driverID, r.ID) })
		if !d.Connected {
			// The accept was sent just before the connection ended, and the
			// disconnect saw the driver still reserved: the grace period
			// starts here, or the ride would wait for a driver who is gone.
			ob.schedule("driver:"+driverID, e.graceEnd(d))
		}
		o.State = OfferAccepted
		r.Status, r.DriverID, r.AssignedAt = RideAssigned, driverID, now.UnixMilli()
		e.revokePending(ctx, r, ob, OfferTaken, "taken")
		ob.cancelTimer("ride:" + r.ID)
		ob.toDriver(driverID, AssignedEvent{Type: "assigned", Ride: r})
		ob.toRide(r.ID, RideEvent{Type: "ride", Ride: r})
		return nil
	})
	if err != nil {
		switch ErrorCode(err) {
		case CodeOfferTaken, CodeConflict:
			e.stats.acceptsLost.Add(1)
			return nil, &Error{Code: CodeOfferTaken, Message: "the ride was taken by another driver"}
		case CodeNotFound:
			return nil, Errorf(CodeNotFound, "offer %q not found", offerID)
		}
		return nil, err
	}
	if !already {
		e.stats.offersAccepted.Add(1)
		e.stats.ridesAssigned.Add(1)
	}
	return r, nil
}

// unassignDriver undoes a driver claim whose ride write failed.
func (e *Engine) unassignDriver(ctx context.Context, driverID, rideID string) {
	_, err := e.updateDriver(ctx, driverID, false, func(d *Driver) error {
		if d.Status != DriverOnTrip || d.RideID != rideID {
			return errNoChange
		}
		d.RideID = ""
		d.Status = idleStatus(d)
		return nil
	})
	if err != nil {
		e.log.Warn("unassign driver", "driver", driverID, "err", err)
	}
}

// Decline records a driver's refusal. The driver becomes available again and
// is not offered this ride again; when no offer of the round is left
// pending the next round starts at once.
func (e *Engine) Decline(ctx context.Context, driverID, offerID string) error {
	rideID, ok := rideOfOffer(offerID)
	if !ok {
		return Errorf(CodeNotFound, "offer %q not found", offerID)
	}
	_, err := e.mutateRide(ctx, rideID, func(r *Ride, ob *outbox) error {
		o := r.offer(offerID)
		if o == nil || o.DriverID != driverID {
			return Errorf(CodeNotFound, "offer %q not found", offerID)
		}
		if o.State == OfferDeclined {
			return errNoChange
		}
		if o.State != OfferPending {
			return offerGone(o)
		}
		o.State = OfferDeclined
		r.Match.Excluded = append(r.Match.Excluded, driverID)
		e.stats.offersDeclined.Add(1)
		e.releaseDriver(ctx, driverID, offerID, ob)
		return e.advance(ctx, r, ob)
	})
	if ErrorCode(err) == CodeNotFound {
		return Errorf(CodeNotFound, "offer %q not found", offerID)
	}
	return err
}
