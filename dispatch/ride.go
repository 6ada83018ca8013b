package dispatch

import (
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

// RideStatus is the state of a ride. The values are part of the wire
// contract.
type RideStatus string

// Ride statuses.
const (
	RideMatching   RideStatus = "matching"
	RideAssigned   RideStatus = "assigned"
	RideArrived    RideStatus = "arrived"
	RideInProgress RideStatus = "in_progress"
	RideCompleted  RideStatus = "completed"
	RideCancelled  RideStatus = "cancelled"
	RideNoDriver   RideStatus = "no_driver"
)

// Terminal reports whether no further transition is possible.
func (s RideStatus) Terminal() bool {
	return s == RideCompleted || s == RideCancelled || s == RideNoDriver
}

// Live reports whether a driver is attached to a ride in this status.
func (s RideStatus) Live() bool {
	return s == RideAssigned || s == RideArrived || s == RideInProgress
}

// Rating is one side's rating of the other after a completed ride.
type Rating struct {
	Stars   int    `json:"stars"`
	Comment string `json:"comment,omitempty"`
	At      int64  `json:"ts"`
}

// Ride is a ride request and its trip. Timestamps are Unix milliseconds.
// The JSON form is the ride object of the wire contract; Match is internal
// matching state, persisted by stores but never sent to clients.
type Ride struct {
	ID           string         `json:"id"`
	Status       RideStatus     `json:"status"`
	RiderID      string         `json:"rider_id"`
	DriverID     string         `json:"driver_id,omitempty"`
	Pickup       geo.Point      `json:"pickup"`
	Dropoff      geo.Point      `json:"dropoff"`
	Fare         pricing.Money  `json:"fare"`
	FinalFare    *pricing.Money `json:"final_fare,omitempty"`
	Surge        float64        `json:"surge"`
	Region       string         `json:"region,omitempty"`
	QuoteID      string         `json:"quote_id,omitempty"`
	DistanceM    float64        `json:"distance_m"`
	DurationS    float64        `json:"duration_s"`
	TripDistM    float64        `json:"trip_distance_m,omitempty"`
	TripDurS     float64        `json:"trip_duration_s,omitempty"`
	CreatedAt    int64          `json:"created_at"`
	UpdatedAt    int64          `json:"updated_at"`
	AssignedAt   int64          `json:"assigned_at,omitempty"`
	ArrivedAt    int64          `json:"arrived_at,omitempty"`
	StartedAt    int64          `json:"started_at,omitempty"`
	CompletedAt  int64          `json:"completed_at,omitempty"`
	CancelledAt  int64          `json:"cancelled_at,omitempty"`
	CancelledBy  string         `json:"cancelled_by,omitempty"`
	RiderRating  *Rating        `json:"rider_rating,omitempty"`
	DriverRating *Rating        `json:"driver_rating,omitempty"`
	Version      int64          `json:"version"`

	Match Matching `json:"-"`
}

// Matching is the matcher's state for a ride: its rounds, the drivers
// already tried and the offers made.
type Matching struct {
	Round       int      `json:"round"`
	Radius      float64  `json:"radius"`
	Deadline    int64    `json:"deadline"`
	NextAttempt int64    `json:"next_attempt"`
	Excluded    []string `json:"excluded,omitempty"`
	Offers      []Offer  `json:"offers,omitempty"`
	Seq         int      `json:"seq"`
}

// OfferState is the outcome of one offer.
type OfferState string

// Offer states.
const (
	OfferPending   OfferState = "pending"
	OfferAccepted  OfferState = "accepted"
	OfferDeclined  OfferState = "declined"
	OfferExpired   OfferState = "expired"
	OfferTaken     OfferState = "taken"
	OfferCancelled OfferState = "cancelled"
)

// Offer is a ride offered to one driver.
type Offer struct {
	ID              string     `json:"id"`
	DriverID        string     `json:"driver_id"`
	ExpiresAt       int64      `json:"expires_at"`
	PickupDistanceM float64    `json:"pickup_distance_m"`
	State           OfferState `json:"state"`
}

// Clone returns a deep copy of r.
func (r *Ride) Clone() *Ride {
	c := *r
	if r.FinalFare != nil {
		f := *r.FinalFare
		c.FinalFare = &f
	}
	if r.RiderRating != nil {
		x := *r.RiderRating
		c.RiderRating = &x
	}
	if r.DriverRating != nil {
		x := *r.DriverRating
		c.DriverRating = &x
	}
	c.Match.Excluded = append([]string(nil), r.Match.Excluded...)
	c.Match.Offers = append([]Offer(nil), r.Match.Offers...)
	return &c
}

func (r *Ride) offer(id string) *Offer {
	for i := range r.Match.Offers {
		if r.Match.Offers[i].ID == id {
			return &r.Match.Offers[i]
		}
	}
	return nil
}

func (r *Ride) pendingOffers() int {
	n := 0
	for _, o := range r.Match.Offers {
		if o.State == OfferPending {
			n++
		}
	}
	return n
}

func (r *Ride) excluded(driverID string) bool {
	for _, id := range r.Match.Excluded {
		if id == driverID {
			return true
		}
	}
	return false
}
