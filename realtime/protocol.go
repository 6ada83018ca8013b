package realtime

import (
	"errors"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
)

// WebSocket close codes sent by the server. They are part of the wire
// contract. Codes in [4000, 4099] (and 1001, 1011) mean "reconnect, with
// backoff"; codes in [4100, 4199] (and 1008, 1009) mean "do not reconnect
// until something changes". ShouldReconnect encodes the rule.
const (
	// CloseGoingAway (1001): the server is shutting down or restarting.
	// Reconnect, with jittered backoff, possibly to another node.
	CloseGoingAway = websocket.CloseGoingAway
	// ClosePolicyViolation (1008): the client flooded the server (too many
	// frames beyond the rate limit in a row). Do not reconnect before the
	// client is fixed.
	ClosePolicyViolation = websocket.ClosePolicyViolation
	// CloseTooBig (1009): a frame exceeded the read limit. Do not
	// reconnect before the client is fixed.
	CloseTooBig = websocket.CloseMessageTooBig
	// CloseInternal (1011): the server could not set the connection up
	// (for example the engine was unavailable). Reconnect with backoff.
	CloseInternal = websocket.CloseInternalServerErr

	// CloseSlowConsumer (4000): the client did not read fast enough and
	// its outbound queue filled up. Reconnect; the welcome (driver) or ride
	// snapshot (rider) resynchronises the state.
	CloseSlowConsumer = 4000
	// CloseTokenExpired (4001): the token the connection was opened with
	// expired. Reconnect with a fresh token.
	CloseTokenExpired = 4001

	// CloseReplaced (4100): a newer connection of the same driver replaced
	// this one (on this node or another). Do not reconnect: the other
	// session is live.
	CloseReplaced = 4100
)

// ShouldReconnect reports whether a client whose connection ended with the
// given close code should reconnect (with backoff). Abnormal closures
// (1006, no close frame) are transient and return true.
func ShouldReconnect(code int) bool {
	switch {
	case code == websocket.CloseNormalClosure:
		return false
	case code == ClosePolicyViolation, code == CloseTooBig:
		return false
	case code >= 4100 && code <= 4199:
		return false
	}
	return true
}

// CloseCode returns the WebSocket close code carried by err (as returned by
// Client.Err or a gorilla read), or 1006 (abnormal closure) when err holds
// none.
func CloseCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return websocket.CloseAbnormalClosure
}

// Message types. Driver -> server: TypeLocation … TypeCancel; server ->
// client: the rest.
const (
	TypeLocation  = "location"
	TypeLocations = "locations"
	TypeStatus    = "status"
	TypeAccept    = "accept"
	TypeDecline   = "decline"
	TypeArrived   = "arrived"
	TypeStart     = "start"
	TypeComplete  = "complete"
	TypeCancel    = "cancel"

	TypeWelcome        = "welcome"
	TypeOffer          = "offer"
	TypeOfferRevoked   = "offer_revoked"
	TypeAssigned       = "assigned"
	TypeRideCancelled  = "ride_cancelled"
	TypeRide           = "ride"
	TypeDriverLocation = "driver_location"
	TypeError          = "error"
)

// CodeStaleFix is the error code of a reply saying that location fixes
// older than the previous one were dropped. The other codes are
// dispatch's (dispatch.CodeInvalid, dispatch.CodeRateLimited, …).
const CodeStaleFix = "stale_fix"

// WelcomeMessage is the first frame a driver receives: its state after
// DriverConnected. Ride is set while the driver is on a trip, Offer (the
// fields of the offer message) while it is reserved for an offer.
type WelcomeMessage struct {
	Type     string                `json:"type"`
	DriverID string                `json:"driver_id"`
	Status   dispatch.DriverStatus `json:"status"`
	Ride     *dispatch.Ride        `json:"ride,omitempty"`
	Offer    *dispatch.OfferEvent  `json:"offer,omitempty"`
}

// RideMessage carries a ride object: the rider's snapshot on connect and
// on every change, and the driver's acknowledgement of arrived, start,
// complete and cancel. Ref echoes the acknowledged message's id or type.
type RideMessage struct {
	Type string         `json:"type"`
	Ride *dispatch.Ride `json:"ride"`
	Ref  string         `json:"ref,omitempty"`
}

// ErrorMessage reports a rejected frame. Ref is the offending message's id
// when it carried one, else its type.
type ErrorMessage struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     string `json:"ref"`
}

// OfferRevokedMessage answers an accept (or decline) that lost the race:
// Reason is taken, expired or cancelled.
type OfferRevokedMessage struct {
	Type    string `json:"type"`
	OfferID string `json:"offer_id"`
	Reason  string `json:"reason"`
	Ref     string `json:"ref,omitempty"`
}
