package realtime

import "sync/atomic"

// Stats is a snapshot of a Hub's gauges and cumulative counters, for
// metrics export.
type Stats struct {
	// DriverConns and RiderConns are the open connections by role.
	DriverConns int64 `json:"driver_conns"`
	RiderConns  int64 `json:"rider_conns"`
	// MessagesIn counts data frames read; MessagesOut data frames written.
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
	// Dropped counts messages not delivered to a local connection because
	// it was closing or overflowed.
	Dropped uint64 `json:"dropped"`
	// Coalesced counts driver_location messages replaced by a newer one
	// before a rider read them.
	Coalesced uint64 `json:"coalesced"`
	// SlowConsumers counts connections closed with CloseSlowConsumer.
	SlowConsumers uint64 `json:"slow_consumers"`
	// RateLimited counts frames dropped by the rate limit; Floods the
	// connections closed for flooding (ClosePolicyViolation).
	RateLimited uint64 `json:"rate_limited"`
	Floods      uint64 `json:"floods"`
	// TooBig counts connections closed for an oversized frame.
	TooBig uint64 `json:"too_big"`
	// Replaced counts driver connections replaced by a newer one.
	Replaced uint64 `json:"replaced"`
	// TokenExpired counts connections closed because their token expired.
	TokenExpired uint64 `json:"token_expired"`
	// StaleFixes counts fixes dropped as older than the previous one.
	StaleFixes uint64 `json:"stale_fixes"`
	// BadFrames counts frames answered with an invalid_argument error.
	BadFrames uint64 `json:"bad_frames"`
	// LostOffers counts accepts and declines of offers already gone
	// (taken, expired, cancelled): answered by the engine's offer_revoked.
	LostOffers uint64 `json:"lost_offers"`
	// PublishErrors counts events that could not be marshalled or
	// published to the Broker.
	PublishErrors uint64 `json:"publish_errors"`
}

type hubStats struct {
	driverConns, riderConns atomic.Int64
	in, out                 atomic.Uint64
	dropped, coalesced      atomic.Uint64
	slowConsumers           atomic.Uint64
	rateLimited, floods     atomic.Uint64
	tooBig, replaced        atomic.Uint64
	tokenExpired            atomic.Uint64
	staleFixes, badFrames   atomic.Uint64
	publishErrors           atomic.Uint64
	lostOffers              atomic.Uint64
}

// Stats returns the hub's current counters.
func (h *Hub) Stats() Stats {
	s := &h.stats
	return Stats{
		DriverConns:   s.driverConns.Load(),
		RiderConns:    s.riderConns.Load(),
		MessagesIn:    s.in.Load(),
		MessagesOut:   s.out.Load(),
		LostOffers:    s.lostOffers.Load(),
		Dropped:       s.dropped.Load(),
		Coalesced:     s.coalesced.Load(),
		SlowConsumers: s.slowConsumers.Load(),
		RateLimited:   s.rateLimited.Load(),
		Floods:        s.floods.Load(),
		TooBig:        s.tooBig.Load(),
		Replaced:      s.replaced.Load(),
		TokenExpired:  s.tokenExpired.Load(),
		StaleFixes:    s.staleFixes.Load(),
		BadFrames:     s.badFrames.Load(),
		PublishErrors: s.publishErrors.Load(),
	}
}
