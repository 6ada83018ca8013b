package blackbox_test

// Regression tests for contract bugs found by black-box testing and fixed:
// each asserts the contract's behaviour and failed while its bug existed.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ridehail/dispatch/internal/server"
)

// FIXED: a body holding one JSON object followed by a stray ']' or '}' is
// accepted. json.Decoder.More reports false for a closing delimiter, so
// the "exactly one JSON value" check passes. The contract: "more than one
// JSON value, truncated or non-JSON bodies" -> 400, and "a rejected
// request changes nothing" (here a ride is booked).
func TestFixedTrailingDelimiterAccepted(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	for _, tail := range []string{"]", "}", "]]]", "}{"} {
		wantError(t, "quote + "+tail, do(t, "POST", base+"/v1/quotes", tripBody+tail), http.StatusBadRequest, "invalid_argument")
		wantError(t, "ride + "+tail, do(t, "POST", base+"/v1/rides?rider_id=a", tripBody+tail), http.StatusBadRequest, "invalid_argument")
	}
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 0 {
		t.Errorf("rides booked from invalid bodies: %v", n)
	}
}

// FIXED: the 16 KiB body limit is not enforced when the excess follows the
// JSON object: after Decode, More() hits the MaxBytesReader error and
// returns false, so a 20 KiB body (an object, then whitespace, then even
// garbage) is accepted. Contract: "413 payload_too_large: body over
// 16 KiB".
func TestFixedBodyLimitBypassedAfterObject(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	pad := strings.Repeat(" ", 20<<10)
	for name, body := range map[string]string{
		"trailing whitespace":        tripBody + pad,
		"garbage beyond the limit":   tripBody + pad + "garbage",
		"second object beyond limit": tripBody + pad + tripBody,
	} {
		wantError(t, "quote/"+name, do(t, "POST", base+"/v1/quotes", body), http.StatusRequestEntityTooLarge, "payload_too_large")
		wantError(t, "ride/"+name, do(t, "POST", base+"/v1/rides?rider_id=a", body), http.StatusRequestEntityTooLarge, "payload_too_large")
	}
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 0 {
		t.Errorf("rides booked from oversized bodies: %v", n)
	}
}

// FIXED: the per-rider ride limit is charged before the request is
// validated against the quote and before the idempotent replay is
// looked up. So (1) requests refused with 400 (bad quote_id, over-long
// Idempotency-Key) use up the rider's budget, and the rider's next valid
// request gets 429 — contract: "A rejected request changes nothing"; and
// (2) retrying a booked ride with its Idempotency-Key gets 429 instead of
// the ride — contract: "the same key returns the same ride (again 201)".
// Suggested fix: look up the idempotency key and validate the quote
// before charging the limiter (or refund on a 4xx).
func TestFixedRideLimitChargedForRejectedAndReplayed(t *testing.T) {
	srv := start(t, server.Config{RidesPerHour: 2})
	base := srv.URL()
	badQuote := `{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712},"quote_id":"bogus"}`
	for i := 0; i < 3; i++ {
		wantError(t, "bad quote", do(t, "POST", base+"/v1/rides?rider_id=x", badQuote), http.StatusBadRequest, "invalid_argument")
	}
	wantError(t, "long key", do(t, "POST", base+"/v1/rides?rider_id=x", tripBody, "Idempotency-Key", strings.Repeat("k", 300)), http.StatusBadRequest, "invalid_argument")
	if r := do(t, "POST", base+"/v1/rides?rider_id=x", tripBody); r.status != http.StatusCreated {
		t.Errorf("first valid ride after rejected ones: %s", r)
	}

	a := decodeRide(t, "ride a", do(t, "POST", base+"/v1/rides?rider_id=y", tripBody, "Idempotency-Key", "a"), http.StatusCreated)
	decodeRide(t, "ride b", do(t, "POST", base+"/v1/rides?rider_id=y", tripBody, "Idempotency-Key", "b"), http.StatusCreated)
	r := do(t, "POST", base+"/v1/rides?rider_id=y", tripBody, "Idempotency-Key", "a")
	if r.status != http.StatusCreated {
		t.Fatalf("idempotent retry of ride a: %s, want 201 with ride %s", r, a.ID)
	}
	if got := decodeRide(t, "replay", r, http.StatusCreated); got.ID != a.ID {
		t.Errorf("replay returned ride %s, want %s", got.ID, a.ID)
	}
}

// FIXED: an idempotent retry is validated before the key is looked up, so
// a retry that no longer validates is refused although the ride exists.
// Here a ride booked on a quote is retried (same body, same
// Idempotency-Key) after the quote expired: 400 "quote expired" — the
// client, whose first response was lost, is told it has no ride while
// the ride is matching and will send a driver. Contract: "The same key
// returns the same ride (again 201)". Suggested fix: look the key up
// first and return the stored ride before any validation that depends on
// time (quote expiry, rate limit).
func TestFixedIdempotentRetryAfterQuoteExpiry(t *testing.T) {
	clk := &fakeClock{}
	srv := start(t, server.Config{Clock: clk})
	base := srv.URL()
	q := do(t, "POST", base+"/v1/quotes", tripBody)
	var quote struct {
		QuoteID string `json:"quote_id"`
	}
	if q.status != 200 || jsonUnmarshal(q.body, &quote) != nil {
		t.Fatalf("quote: %s", q)
	}
	body := fmt.Sprintf(`{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712},"quote_id":%q}`, quote.QuoteID)
	first := decodeRide(t, "book", do(t, "POST", base+"/v1/rides?rider_id=a", body, "Idempotency-Key", "k1"), http.StatusCreated)
	clk.ahead.Store(int64(5*time.Minute + time.Second))
	r := do(t, "POST", base+"/v1/rides?rider_id=a", body, "Idempotency-Key", "k1")
	if r.status != http.StatusCreated {
		t.Fatalf("retry after the quote expired: %s, want 201 with ride %s (which is %s)", r, first.ID, getRide(t, base, first.ID).Status)
	}
	if got := decodeRide(t, "retry", r, http.StatusCreated); got.ID != first.ID {
		t.Errorf("retry returned ride %s, want %s", got.ID, first.ID)
	}
}
