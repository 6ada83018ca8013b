package dispatch

import (
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

// Event is a message the engine sends to a driver or to a ride's rider. Its
// JSON form is the wire message, "type" included.
type Event interface{ EventType() string }

// OfferEvent offers a ride to a driver.
type OfferEvent struct {
	Type            string        `json:"type"`
	OfferID         string        `json:"offer_id"`
	RideID          string        `json:"ride_id"`
	Pickup          geo.Point     `json:"pickup"`
	Dropoff         geo.Point     `json:"dropoff"`
	Fare            pricing.Money `json:"fare"`
	PickupDistanceM float64       `json:"pickup_distance_m"`
	ExpiresAt       int64         `json:"expires_at"`
}

// OfferRevokedEvent withdraws an offer. Reason is taken, expired or
// cancelled.
type OfferRevokedEvent struct {
	Type    string `json:"type"`
	OfferID string `json:"offer_id"`
	RideID  string `json:"ride_id,omitempty"`
	Reason  string `json:"reason"`
}

// AssignedEvent tells a driver it won a ride.
type AssignedEvent struct {
	Type string `json:"type"`
	Ride *Ride  `json:"ride"`
}

// RideCancelledEvent tells a driver its ride was cancelled, and by whom
// (rider, driver or system).
type RideCancelledEvent struct {
	Type   string `json:"type"`
	RideID string `json:"ride_id"`
	By     string `json:"by"`
}

// RideEvent is a ride snapshot sent to its rider on every status change.
type RideEvent struct {
	Type string `json:"type"`
	Ride *Ride  `json:"ride"`
}

// DriverLocationEvent streams the assigned driver's position to the rider.
type DriverLocationEvent struct {
	Type   string  `json:"type"`
	RideID string  `json:"ride_id"`
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	TS     int64   `json:"ts"`
	ETAS   float64 `json:"eta_s"`
}

func (OfferEvent) EventType() string          { return "offer" }
func (OfferRevokedEvent) EventType() string   { return "offer_revoked" }
func (AssignedEvent) EventType() string       { return "assigned" }
func (RideCancelledEvent) EventType() string  { return "ride_cancelled" }
func (RideEvent) EventType() string           { return "ride" }
func (DriverLocationEvent) EventType() string { return "driver_location" }
