package realtime

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
)

// driverSession serves one driver connection's frames. It runs on the
// connection's reader goroutine only.
type driverSession struct {
	c         *conn
	d         Dispatcher
	connected bool  // DriverConnected succeeded
	session   int64 // the Driver.Session it returned
}

// welcome calls DriverConnected and queues the welcome ahead of anything
// delivered since the registration. It reports whether the engine took
// the connection; when not, the connection is closed with CloseInternal
// after an error frame.
func (s *driverSession) welcome() bool {
	c := s.c
	ctx, cancel := c.callContext()
	defer cancel()
	st, err := s.d.DriverConnected(ctx, c.id)
	if err != nil {
		code, msg := wireError(err)
		c.hub.log.Warn("driver connected", "driver", c.id, "err", err)
		c.sendError(code, msg, TypeWelcome)
		c.closeWith(CloseInternal, "could not register the connection, retry")
		return false
	}
	w := WelcomeMessage{Type: TypeWelcome, DriverID: c.id, Status: dispatch.DriverAvailable}
	if st != nil {
		if st.Driver != nil {
			w.Status = st.Driver.Status
			s.session = st.Driver.Session
		}
		w.Ride, w.Offer = st.Ride, st.Offer
	}
	data, err := json.Marshal(w)
	if err != nil {
		c.hub.log.Error("marshal welcome", "err", err)
		return true
	}
	c.enqueueFront(outMsg{data: data})
	return true
}

// handle serves one frame: rate limit, decode, dispatch, reply.
func (s *driverSession) handle(messageType int, data []byte) {
	c := s.c
	bufp := c.hub.points.Get().(*[]dispatch.Fix)
	msg, err := decodeDriverMessage(data, *bufp)
	s.serve(messageType, msg, err)
	if cap(msg.Points) > 0 && cap(msg.Points) <= MaxBatchPoints {
		clear(msg.Points) // drop the optional fields' pointers
		*bufp = msg.Points[:0]
	}
	c.hub.points.Put(bufp)
}

// serve answers one decoded frame (or its decoding error).
func (s *driverSession) serve(messageType int, msg DriverMessage, err error) {
	c := s.c
	ref := msg.Ref()
	if de, ok := err.(*DecodeError); ok {
		ref = de.Ref
	}
	if !c.allowFrame() {
		c.sendError(dispatch.CodeRateLimited, "too many messages: slow down", ref)
		return
	}
	if messageType != websocket.TextMessage {
		c.hub.stats.badFrames.Add(1)
		c.sendError(dispatch.CodeInvalid, "frames must be JSON text frames", ref)
		return
	}
	if err != nil {
		c.hub.stats.badFrames.Add(1)
		c.sendError(dispatch.CodeInvalid, err.(*DecodeError).Message, ref)
		return
	}
	switch msg.Type {
	case TypeLocation:
		s.location(c.hub.ingestContext(), msg.Fix, ref)
		return
	case TypeLocations:
		s.locations(c.hub.ingestContext(), msg, ref)
		return
	}
	ctx, cancel := c.callContext()
	defer cancel()
	switch msg.Type {
	case TypeStatus:
		if _, err := s.d.SetDriverStatus(ctx, c.id, msg.Status); err != nil {
			s.fail(err, ref)
		}
	case TypeAccept:
		_, err := s.d.Accept(ctx, c.id, msg.OfferID)
		s.offerReply(err, msg.OfferID, ref)
	case TypeDecline:
		s.offerReply(s.d.Decline(ctx, c.id, msg.OfferID), msg.OfferID, ref)
	case TypeArrived:
		r, err := s.d.Arrived(ctx, c.id, msg.RideID)
		s.rideReply(r, err, ref)
	case TypeStart:
		r, err := s.d.Start(ctx, c.id, msg.RideID)
		s.rideReply(r, err, ref)
	case TypeComplete:
		r, err := s.d.Complete(ctx, c.id, msg.RideID, msg.DistanceM)
		s.rideReply(r, err, ref)
	case TypeCancel:
		r, err := s.d.CancelRide(ctx, dispatch.Actor{Role: dispatch.RoleDriver, ID: c.id}, msg.RideID)
		s.rideReply(r, err, ref)
	}
}

// location applies one fix. A fix older than the last one accepted on this
// connection (or by the engine) is dropped with a stale_fix error.
func (s *driverSession) location(ctx context.Context, f dispatch.Fix, ref string) {
	c := s.c
	if f.TS < c.lastTS {
		s.stale(1, 1, ref)
		return
	}
	if err := s.d.UpdateLocation(ctx, c.id, f); err != nil {
		if isStaleFix(err) {
			s.stale(1, 1, ref)
			return
		}
		s.fail(err, ref)
		return
	}
	c.lastTS = f.TS
}

// locations applies a buffered batch in time order. Fixes older than the
// previous one are dropped and reported in one stale_fix error; fixes the
// engine rejects for another reason are reported in one more error.
func (s *driverSession) locations(ctx context.Context, msg DriverMessage, ref string) {
	c := s.c
	points := msg.Points
	if byTS := func(a, b dispatch.Fix) int { return cmp.Compare(a.TS, b.TS) }; !slices.IsSortedFunc(points, byTS) {
		slices.SortStableFunc(points, byTS)
	}
	total := len(points) + msg.Rejected
	if msg.Rejected > 0 {
		c.hub.stats.badFrames.Add(1) // a frame carrying invalid points
	}
	stale, failed := 0, msg.Rejected
	code, reason := dispatch.CodeInvalid, msg.RejectReason
	for _, f := range points {
		if f.TS < c.lastTS {
			stale++
			continue
		}
		if err := s.d.UpdateLocation(ctx, c.id, f); err != nil {
			if isStaleFix(err) {
				stale++
			} else {
				if failed == 0 {
					code, reason = wireError(err)
					reason = fmt.Sprintf("the fix with ts %d: %s", f.TS, reason)
				}
				failed++
			}
			continue
		}
		c.lastTS = f.TS
	}
	if stale > 0 {
		s.stale(stale, total, ref)
	}
	if failed > 0 {
		c.sendError(code, fmt.Sprintf("%d of %d fixes were rejected: %s", failed, total, reason), ref)
	}
}

func (s *driverSession) stale(n, of int, ref string) {
	s.c.hub.stats.staleFixes.Add(uint64(n))
	msg := fmt.Sprintf("%d of %d fixes were older than the previous one and were dropped", n, of)
	if of == 1 {
		msg = "the fix was older than the previous one and was dropped"
	}
	s.c.sendError(CodeStaleFix, msg, ref)
}

// offerReply answers accept and decline: nothing on success (the engine
// sends assigned) and nothing when the offer is already gone — taken,
// expired or cancelled — because the engine tells each driver exactly once,
// with offer_revoked, when its offer leaves pending (a lost race is a normal
// outcome, never an error); an error frame otherwise.
func (s *driverSession) offerReply(err error, offerID, ref string) {
	if err == nil {
		return
	}
	if _, ok := revokedReason(err); ok {
		s.c.hub.stats.lostOffers.Add(1)
		return
	}
	s.fail(err, ref)
}

// rideReply acknowledges a trip step with the ride object, or reports the
// error.
func (s *driverSession) rideReply(r *dispatch.Ride, err error, ref string) {
	if err != nil {
		s.fail(err, ref)
		return
	}
	s.c.send(RideMessage{Type: TypeRide, Ride: r, Ref: ref})
}

func (s *driverSession) fail(err error, ref string) {
	code, msg := wireError(err)
	if code == dispatch.CodeInternal {
		s.c.hub.log.Error("dispatch", "driver", s.c.id, "ref", ref, "err", err)
	}
	s.c.sendError(code, msg, ref)
}
