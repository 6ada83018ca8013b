package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/auth"
	"github.com/ridehail/dispatch/realtime"
)

// Online reaches a dispatch server over real HTTP and WebSockets.
type Online struct {
	base   string
	http   *http.Client
	tokens *auth.Authenticator // nil: open development mode identities
}

var _ Server = (*Online)(nil)

// NewOnline checks that the server at base answers /healthz and returns a
// client for it. With authSecret set, identities are sent as JWTs minted
// with it.
func NewOnline(ctx context.Context, base, authSecret string) (*Online, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-server must be an http(s)://host:port URL, got %q", base)
	}
	o := &Online{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second}}
	if authSecret != "" {
		o.tokens = auth.New([]byte(authSecret), nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server unreachable: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server %s: /healthz answered %s", o.base, resp.Status)
	}
	if err := o.checkAuth(ctx); err != nil {
		return nil, err
	}
	return o, nil
}

// checkAuth makes one authenticated call, so that a run against a server
// that wants tokens (or other tokens) fails at once with the fix, rather
// than replaying for minutes with every request refused.
func (o *Online) checkAuth(ctx context.Context) error {
	id, tok, err := o.token(auth.RoleRider, "ridesim-check")
	if err != nil {
		return err
	}
	u := o.base + "/v1/drivers/nearby?lat=0&lon=0&radius_m=1&limit=1"
	if id != "" {
		u += "&rider_id=" + url.QueryEscape(id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return fmt.Errorf("server unreachable: %w", err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusUnauthorized:
		return nil
	case o.tokens == nil:
		return fmt.Errorf("server %s requires tokens (it runs with an auth secret): pass the same secret with -auth-secret", o.base)
	default:
		return fmt.Errorf("server %s refused ridesim's token: -auth-secret is not the server's secret", o.base)
	}
}

func (o *Online) token(role, id string) (string, string, error) {
	if o.tokens == nil {
		return id, "", nil
	}
	t, err := o.tokens.Issue(role, id, 24*time.Hour)
	return "", t, err
}

// DialDriver implements Server.
func (o *Online) DialDriver(ctx context.Context, driverID string) (Conn, error) {
	id, tok, err := o.token(auth.RoleDriver, driverID)
	if err != nil {
		return nil, err
	}
	c, err := realtime.DialDriver(ctx, o.base, id, tok)
	if err != nil {
		return nil, err
	}
	return newWSConn(c), nil
}

// DialRider implements Server.
func (o *Online) DialRider(ctx context.Context, rideID, riderID string) (Conn, error) {
	id, tok, err := o.token(auth.RoleRider, riderID)
	if err != nil {
		return nil, err
	}
	c, err := realtime.DialRider(ctx, o.base, rideID, id, tok)
	if err != nil {
		return nil, err
	}
	return newWSConn(c), nil
}

// RequestRide implements Server.
func (o *Online) RequestRide(ctx context.Context, riderID string, pickup, dropoff geo.Point, key string) (string, error) {
	body, _ := json.Marshal(map[string]any{"pickup": pickup, "dropoff": dropoff})
	u := o.base + "/v1/rides"
	id, tok, err := o.token(auth.RoleRider, riderID)
	if err != nil {
		return "", err
	}
	if id != "" {
		u += "?rider_id=" + url.QueryEscape(id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Error.Code == "" {
			e.Error.Code = fmt.Sprint("http_", resp.StatusCode)
		}
		return "", &CodeError{Status: resp.StatusCode, Code: e.Error.Code, Msg: e.Error.Message}
	}
	var ride struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &ride); err != nil || ride.ID == "" {
		return "", errors.New("ride response without id")
	}
	return ride.ID, nil
}

// wsConn adapts realtime.Client to Conn.
type wsConn struct {
	c   *realtime.Client
	out chan Msg
}

func newWSConn(c *realtime.Client) *wsConn {
	w := &wsConn{c: c, out: make(chan Msg, 64)}
	go func() {
		defer close(w.out)
		for m := range c.Messages() {
			w.out <- Msg{Type: m.Type, Raw: m.Raw}
		}
	}()
	return w
}

func (w *wsConn) Send(ctx context.Context, v any) error { return w.c.Send(ctx, v) }
func (w *wsConn) Messages() <-chan Msg                  { return w.out }
func (w *wsConn) Close() error                          { return w.c.Close() }
