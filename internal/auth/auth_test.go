package auth

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

func TestOpenMode(t *testing.T) {
	a := New(nil, nil)
	if !a.Open() {
		t.Fatal("nil secret must be open mode")
	}
	r := httptest.NewRequest("GET", "/v1/driver/ws?driver_id=d1", nil)
	id, err := a.Identify(r, RoleDriver)
	if err != nil || id.Role != RoleDriver || id.ID != "d1" {
		t.Fatalf("got %+v, %v", id, err)
	}
	if _, err := a.Identify(r, RoleRider); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("rider wanted, driver_id given: got %v", err)
	}
	anon, err := a.Identify(httptest.NewRequest("GET", "/v1/rides/x", nil), "")
	if err != nil || anon.ID != "" {
		t.Fatalf("anonymous: %+v %v", anon, err)
	}
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a := New([]byte("secret"), func() time.Time { return now })
	tok, err := a.Issue(RoleRider, "r1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v1/rides", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	id, err := a.Identify(r, RoleRider)
	if err != nil || id.ID != "r1" || id.Role != RoleRider || !id.Expires.Equal(now.Add(time.Minute)) {
		t.Fatalf("got %+v, %v", id, err)
	}
	if _, err := a.Identify(r, RoleDriver); !errors.Is(err, ErrForbidden) {
		t.Fatalf("role mismatch: %v", err)
	}
	q := httptest.NewRequest("GET", "/v1/rider/ws?token="+tok, nil)
	if id, err := a.Identify(q, ""); err != nil || id.ID != "r1" {
		t.Fatalf("query token: %+v %v", id, err)
	}
	for name, h := range map[string]string{
		"none":     "",
		"basic":    "Basic abc",
		"tampered": "Bearer " + tok[:len(tok)-2] + "xx",
		"other":    "Bearer " + mustIssue(t, New([]byte("other"), nil), RoleRider, "r1"),
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		if _, err := a.Identify(r, ""); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: want unauthenticated, got %v", name, err)
		}
	}
	now = now.Add(2 * time.Minute)
	if _, err := a.Identify(r, RoleRider); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("expired token accepted: %v", err)
	}
}

func mustIssue(t *testing.T, a *Authenticator, role, id string) string {
	t.Helper()
	s, err := a.Issue(role, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
