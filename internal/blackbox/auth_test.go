package blackbox_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ridehail/dispatch/internal/auth"
	"github.com/ridehail/dispatch/internal/server"
	"github.com/ridehail/dispatch/realtime"
)

const secret = "blackbox-secret"

// mint issues a token as the server would.
func mint(t *testing.T, role, id string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.New([]byte(secret), nil).Issue(role, id, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forge signs arbitrary claims with method m and key.
func forge(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// badTokens are Authorization header values that must get 401.
func badTokens(t *testing.T) map[string]string {
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	good := mint(t, "driver", "d1", time.Hour)
	return map[string]string{
		"garbage":        "Bearer not.a.jwt",
		"empty bearer":   "Bearer ",
		"bearer only":    "Bearer",
		"basic scheme":   "Basic ZDE6cHc=",
		"raw token":      good,
		"wrong secret":   "Bearer " + forge(t, jwt.SigningMethodHS256, []byte("other"), jwt.MapClaims{"sub": "d1", "role": "driver", "exp": exp}),
		"HS384":          "Bearer " + forge(t, jwt.SigningMethodHS384, []byte(secret), jwt.MapClaims{"sub": "d1", "role": "driver", "exp": exp}),
		"alg none":       "Bearer " + forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "d1", "role": "driver", "exp": exp}),
		"expired":        "Bearer " + mint(t, "driver", "d1", -time.Minute),
		"no exp":         "Bearer " + forge(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "d1", "role": "driver"}),
		"not yet valid":  "Bearer " + forge(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "d1", "role": "driver", "exp": exp, "nbf": now.Add(time.Hour).Unix()}),
		"no sub":         "Bearer " + forge(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"role": "driver", "exp": exp}),
		"sub too long":   "Bearer " + forge(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": strings.Repeat("d", 129), "role": "driver", "exp": exp}),
		"no role":        "Bearer " + forge(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "d1", "exp": exp}),
		"admin role":     "Bearer " + forge(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "d1", "role": "admin", "exp": exp}),
		"tampered":       "Bearer " + good[:len(good)-2] + "xx",
		"two tokens":     "Bearer " + good + " " + good,
		"sub not string": "Bearer " + forge(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": 42, "role": "driver", "exp": exp}),
	}
}

// TestAuthHTTP: with a secret, every API call needs a valid token of the
// right role, and the open mode's query parameters confer nothing.
func TestAuthHTTP(t *testing.T) {
	srv := start(t, server.Config{AuthSecret: secret})
	base := srv.URL()
	for name, h := range badTokens(t) {
		wantError(t, "quote/"+name, do(t, "POST", base+"/v1/quotes", tripBody, "Authorization", h), 401, "unauthenticated")
		wantError(t, "ride/"+name, do(t, "POST", base+"/v1/rides?rider_id=alice", tripBody, "Authorization", h), 401, "unauthenticated")
		wantError(t, "nearby/"+name, do(t, "GET", base+"/v1/drivers/nearby?lat=1&lon=1", "", "Authorization", h), 401, "unauthenticated")
	}
	wantError(t, "no token", do(t, "POST", base+"/v1/rides?rider_id=alice", tripBody), 401, "unauthenticated")
	wantError(t, "bad query token", do(t, "POST", base+"/v1/rides?token=x", tripBody), 401, "unauthenticated")
	wantError(t, "driver books", do(t, "POST", base+"/v1/rides", tripBody, "Authorization", "Bearer "+mint(t, "driver", "d1", time.Hour)), 403, "permission_denied")
	if n := metric(t, base, "dispatch_rides_requested_total"); n != 0 {
		t.Fatalf("rides requested by refused calls: %v", n)
	}
	alice := "Bearer " + mint(t, "rider", "alice", time.Hour)
	// The query parameter does not override the token's identity.
	r := decodeRide(t, "alice books", do(t, "POST", base+"/v1/rides?rider_id=mallory", tripBody, "Authorization", alice), 201)
	if r.RiderID != "alice" {
		t.Fatalf("rider_id %q, want alice", r.RiderID)
	}
	qtok := mint(t, "rider", "bob", time.Hour)
	rb := decodeRide(t, "bob books with ?token=", do(t, "POST", base+"/v1/rides?token="+qtok, tripBody), 201)
	if rb.RiderID != "bob" {
		t.Fatalf("rider_id %q, want bob", rb.RiderID)
	}
	// Reading and cancelling: only the owner; no anonymous operator here.
	wantError(t, "anonymous GET", do(t, "GET", base+"/v1/rides/"+r.ID, ""), 401, "unauthenticated")
	wantError(t, "bob GET alice's", do(t, "GET", base+"/v1/rides/"+r.ID+"?token="+qtok, ""), 404, "not_found")
	wantError(t, "bob via query id", do(t, "GET", base+"/v1/rides/"+r.ID+"?rider_id=alice&token="+qtok, ""), 404, "not_found")
	wantError(t, "driver GET", do(t, "GET", base+"/v1/rides/"+r.ID, "", "Authorization", "Bearer "+mint(t, "driver", "d1", time.Hour)), 404, "not_found")
	wantError(t, "anonymous cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel", ""), 401, "unauthenticated")
	wantError(t, "anonymous cancel with rider_id", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id=alice", ""), 401, "unauthenticated")
	wantError(t, "bob cancels alice's", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?token="+qtok, ""), 404, "not_found")
	wantError(t, "expired cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel", "", "Authorization", "Bearer "+mint(t, "rider", "alice", -time.Second)), 401, "unauthenticated")
	if g := decodeRide(t, "alice GET", do(t, "GET", base+"/v1/rides/"+r.ID, "", "Authorization", alice), 200); g.Status != "matching" || g.Version != r.Version {
		t.Fatalf("ride changed by refused calls: %+v", g)
	}
	c := decodeRide(t, "alice cancels", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel", "", "Authorization", alice), 200)
	if c.Status != "cancelled" || c.CancelledBy != "rider" {
		t.Fatalf("cancel: %+v", c)
	}
	// Scheme is case-insensitive (RFC 7235).
	if got := do(t, "POST", base+"/v1/quotes", tripBody, "Authorization", "bearer "+mint(t, "driver", "d1", time.Hour)); got.status != 200 {
		t.Errorf("lower-case scheme: %s", got)
	}
	// Operations need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if got := do(t, "GET", base+p, ""); got.status != 200 {
			t.Errorf("%s: %d", p, got.status)
		}
	}
}

// TestAuthWebSocket: the handshake refusals of the auth mode, before any
// upgrade, and the token's identity on the connection.
func TestAuthWebSocket(t *testing.T) {
	srv := start(t, server.Config{AuthSecret: secret})
	base := srv.URL()
	alice := mint(t, "rider", "alice", time.Hour)
	r := decodeRide(t, "book", do(t, "POST", base+"/v1/rides", tripBody, "Authorization", "Bearer "+alice), 201)
	for name, h := range badTokens(t) {
		_, res, err := dialWS(t, base, "/v1/driver/ws", http.Header{"Authorization": {h}})
		handshakeError(t, "driver/"+name, res, err, 401, "unauthenticated")
		if res != nil && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("driver/%s: WWW-Authenticate %q", name, res.Header.Get("WWW-Authenticate"))
		}
		_, res, err = dialWS(t, base, "/v1/rider/ws?ride_id="+r.ID, http.Header{"Authorization": {h}})
		handshakeError(t, "rider/"+name, res, err, 401, "unauthenticated")
	}
	_, res, err := dialWS(t, base, "/v1/driver/ws?driver_id=d1", nil)
	handshakeError(t, "open-mode id in auth mode", res, err, 401, "unauthenticated")
	_, res, err = dialWS(t, base, "/v1/driver/ws", bearer(alice))
	handshakeError(t, "rider token on driver socket", res, err, 403, "permission_denied")
	_, res, err = dialWS(t, base, "/v1/rider/ws?ride_id="+r.ID, bearer(mint(t, "driver", "d1", time.Hour)))
	handshakeError(t, "driver token on rider socket", res, err, 403, "permission_denied")
	_, res, err = dialWS(t, base, "/v1/rider/ws?ride_id="+r.ID, bearer(mint(t, "rider", "mallory", time.Hour)))
	handshakeError(t, "another rider's ride", res, err, 404, "not_found")
	_, res, err = dialWS(t, base, "/v1/rider/ws?ride_id="+r.ID+"&rider_id=alice", bearer(mint(t, "rider", "mallory", time.Hour)))
	handshakeError(t, "another rider's ride, query id", res, err, 404, "not_found")

	// Valid: the identity is the token's sub, whatever the query says.
	c, res, err := dialWS(t, base, "/v1/driver/ws?driver_id=impostor", bearer(mint(t, "driver", "d-42", time.Hour)))
	if err != nil {
		t.Fatalf("driver dial: %v %v", err, res)
	}
	if w := c.next(); w.Type != "welcome" || w.DriverID != "d-42" {
		t.Fatalf("welcome: %s", w.Raw)
	}
	c2, res, err := dialWS(t, base, "/v1/rider/ws?ride_id="+r.ID+"&token="+alice, nil)
	if err != nil {
		t.Fatalf("rider dial with ?token=: %v %v", err, res)
	}
	if f := c2.next(); f.Type != "ride" || f.Ride.ID != r.ID {
		t.Fatalf("snapshot: %s", f.Raw)
	}
}

// TestAuthTokenExpiryClosesSocket: a connection ends with 4001 when its
// token expires.
func TestAuthTokenExpiryClosesSocket(t *testing.T) {
	srv := start(t, server.Config{AuthSecret: secret})
	base := srv.URL()
	c, res, err := dialWS(t, base, "/v1/driver/ws", bearer(mint(t, "driver", "short", 2*time.Second)))
	if err != nil {
		t.Fatalf("dial: %v %v", err, res)
	}
	if w := c.next(); w.Type != "welcome" {
		t.Fatalf("welcome: %s", w.Raw)
	}
	if code := c.closeCode(); code != realtime.CloseTokenExpired {
		t.Errorf("close %d, want %d", code, realtime.CloseTokenExpired)
	}
	// A fresh token reconnects.
	c2, res, err := dialWS(t, base, "/v1/driver/ws", bearer(mint(t, "driver", "short", time.Hour)))
	if err != nil {
		t.Fatalf("redial: %v %v", err, res)
	}
	if w := c2.next(); w.Type != "welcome" || w.Status != "available" {
		t.Errorf("welcome after expiry: %s", w.Raw)
	}
}
