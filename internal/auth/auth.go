// Package auth identifies callers: a JWT HS256 bearer token (sub = id,
// role = driver | rider, exp) or, in the open development mode (no secret
// configured), the driver_id / rider_id query parameter.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles a token may carry.
const (
	RoleDriver = "driver"
	RoleRider  = "rider"
)

// Errors returned by Identify. Map ErrUnauthenticated to 401 and
// ErrForbidden to 403.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// Identity is an authenticated caller. Expires is zero in open mode.
type Identity struct {
	Role    string
	ID      string
	Expires time.Time
}

// Authenticator checks tokens. The zero secret means open development mode.
type Authenticator struct {
	secret []byte
	now    func() time.Time
}

// New returns an Authenticator. An empty secret selects the open
// development mode. now defaults to time.Now.
func New(secret []byte, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	return &Authenticator{secret: secret, now: now}
}

// Open reports whether the server runs in the open development mode.
func (a *Authenticator) Open() bool { return len(a.secret) == 0 }

type claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// Issue signs a token for role and id valid for ttl.
func (a *Authenticator) Issue(role, id string, ttl time.Duration) (string, error) {
	if a.Open() {
		return "", errors.New("issue token: no secret configured")
	}
	now := a.now()
	c := claims{Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   id,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Verify checks a token and returns its identity.
func (a *Authenticator) Verify(token string) (Identity, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		return a.secret, nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(a.now), jwt.WithExpirationRequired())
	if err != nil {
		return Identity{}, fmt.Errorf("%w: invalid token: %v", ErrUnauthenticated, trimJWT(err))
	}
	if c.Subject == "" || len(c.Subject) > 128 {
		return Identity{}, fmt.Errorf("%w: token has no valid sub", ErrUnauthenticated)
	}
	if c.Role != RoleDriver && c.Role != RoleRider {
		return Identity{}, fmt.Errorf("%w: token role must be driver or rider", ErrUnauthenticated)
	}
	return Identity{Role: c.Role, ID: c.Subject, Expires: c.ExpiresAt.Time}, nil
}

func trimJWT(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// Identify returns the caller of r. want restricts the role ("" accepts
// either). With a secret the token comes from "Authorization: Bearer" or
// the token query parameter; in open mode the id comes from the driver_id
// or rider_id query parameter (want selects which; with want "" either,
// and none gives the anonymous identity with empty Role and ID).
func (a *Authenticator) Identify(r *http.Request, want string) (Identity, error) {
	if a.Open() {
		q := r.URL.Query()
		id := Identity{}
		switch {
		case want != RoleRider && q.Get("driver_id") != "":
			id = Identity{Role: RoleDriver, ID: q.Get("driver_id")}
		case want != RoleDriver && q.Get("rider_id") != "":
			id = Identity{Role: RoleRider, ID: q.Get("rider_id")}
		case want != "":
			return Identity{}, fmt.Errorf("%w: open development mode: the %s_id query parameter is required", ErrUnauthenticated, want)
		}
		if len(id.ID) > 128 {
			return Identity{}, fmt.Errorf("%w: id longer than 128 bytes", ErrUnauthenticated)
		}
		return id, nil
	}
	tok := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return Identity{}, fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", ErrUnauthenticated)
		}
		tok = strings.TrimSpace(rest)
	} else {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" {
		return Identity{}, fmt.Errorf("%w: a bearer token is required", ErrUnauthenticated)
	}
	id, err := a.Verify(tok)
	if err != nil {
		return Identity{}, err
	}
	if want != "" && id.Role != want {
		return Identity{}, fmt.Errorf("%w: this endpoint needs a %s token", ErrForbidden, want)
	}
	return id, nil
}
