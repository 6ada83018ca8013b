package dispatch

// DriverStatus is a driver's dispatch state. The values are part of the wire
// contract.
type DriverStatus string

// Driver statuses.
const (
	DriverOffline   DriverStatus = "offline"
	DriverAvailable DriverStatus = "available"
	DriverReserved  DriverStatus = "reserved"
	DriverOnTrip    DriverStatus = "on_trip"
)

// Driver is a driver's dispatch record. Positions are not stored here (they
// change every few seconds and live in the Locator); this record changes
// only on state transitions, each a compare-and-set on Version.
type Driver struct {
	ID     string       `json:"id"`
	Status DriverStatus `json:"status"`
	// RideID is the live ride while Status is on_trip.
	RideID string `json:"ride_id,omitempty"`
	// OfferID and OfferRideID name the pending offer while Status is
	// reserved.
	OfferID     string `json:"offer_id,omitempty"`
	OfferRideID string `json:"offer_ride_id,omitempty"`
	// Connected is false once the driver's connection is gone;
	// DisconnectedAt (Unix ms) starts the grace period.
	Connected      bool  `json:"connected"`
	DisconnectedAt int64 `json:"disconnected_at,omitempty"`
	// WantsOffline records a driver's request to go offline while a trip
	// is live; it takes effect when the trip ends.
	WantsOffline bool `json:"wants_offline,omitempty"`
	// Session numbers the driver's connections: DriverConnected increments
	// it, and DriverDisconnected for an older session changes nothing (the
	// old connection on one node ending after a new one opened on
	// another).
	Session int64 `json:"session,omitempty"`
	// Node names the node (Config.NodeID) holding the connection of the
	// current session, so that a node that died can be told apart from a
	// driver who is merely silent.
	Node      string `json:"node,omitempty"`
	UpdatedAt int64  `json:"updated_at"`
	Version   int64  `json:"version"`
}

// Clone returns a copy of d.
func (d *Driver) Clone() *Driver { c := *d; return &c }
