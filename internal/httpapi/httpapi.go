// Package httpapi serves the HTTP part of the wire contract: quotes, rides,
// nearby drivers, health and metrics. Errors are mapped to statuses in one
// place (writeError).
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/auth"
	"github.com/ridehail/dispatch/internal/jsonobj"
	"github.com/ridehail/dispatch/pricing"
)

// Engine is what the HTTP API needs of the dispatch engine.
type Engine interface {
	Quote(ctx context.Context, pickup, dropoff geo.Point) (pricing.Quote, error)
	RequestRide(ctx context.Context, riderID string, req dispatch.RideRequest, idemKey string) (*dispatch.Ride, bool, error)
	ReplayRide(ctx context.Context, riderID, idemKey string) (*dispatch.Ride, bool, error)
	GetRide(ctx context.Context, a dispatch.Actor, id string) (*dispatch.Ride, error)
	CancelRide(ctx context.Context, a dispatch.Actor, id string) (*dispatch.Ride, error)
	Rate(ctx context.Context, a dispatch.Actor, id string, stars int, comment string) (*dispatch.Ride, error)
	Nearby(ctx context.Context, center geo.Point, radius float64, limit int) ([]dispatch.Candidate, error)
}

// Config configures the API.
type Config struct {
	// MaxBodyBytes bounds request bodies; larger ones get 413. 16 KiB.
	MaxBodyBytes int64
	// Ready reports readiness for /readyz (nil: always ready).
	Ready func(ctx context.Context) error
	// Metrics serves /metrics (nil: 404).
	Metrics http.Handler
	// RideLimiter, when set, is asked before each ride request: ok false
	// answers 429; undo gives the token back (called when no ride was
	// created: a rejected request or an idempotent replay).
	RideLimiter func(riderID string) (ok bool, undo func())
	Logger      *slog.Logger
}

// API is the HTTP handler set.
type API struct {
	eng   Engine
	authn *auth.Authenticator
	cfg   Config
}

// New returns the API.
func New(eng Engine, authn *auth.Authenticator, cfg Config) *API {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{eng: eng, authn: authn, cfg: cfg}
}

// Register mounts the routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/quotes", a.quote)
	mux.HandleFunc("POST /v1/rides", a.createRide)
	mux.HandleFunc("GET /v1/rides/{id}", a.getRide)
	mux.HandleFunc("POST /v1/rides/{id}/cancel", a.cancelRide)
	mux.HandleFunc("POST /v1/rides/{id}/rating", a.rate)
	mux.HandleFunc("GET /v1/drivers/nearby", a.nearby)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.ready)
	if a.cfg.Metrics != nil {
		mux.Handle("GET /metrics", a.cfg.Metrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// A known path with another method is 405, anything else 404; both
		// with the JSON error body.
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]string{
				"code": dispatch.CodeInvalid, "message": fmt.Sprintf("method %s not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, ", "))}})
			return
		}
		writeError(w, dispatch.Errorf(dispatch.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Ready != nil {
		// A probe must answer in time: a backend that hangs (a paused
		// Redis) is not ready.
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := a.cfg.Ready(ctx); err != nil {
			writeError(w, &dispatch.Error{Code: dispatch.CodeUnavailable, Message: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// readyTimeout bounds the /readyz check.
const readyTimeout = 2 * time.Second

// object is a decoded JSON object. Field names are matched exactly (the
// contract's names), unlike encoding/json's case-insensitive struct
// decoding: an unknown "LAT" is ignored, never read as "lat".
type object map[string]json.RawMessage

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// point reads the required coordinate field name.
func (o object) point(name string) (geo.Point, error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return geo.Point{}, dispatch.Errorf(dispatch.CodeInvalid, "%s is required", name)
	}
	var m object
	if err := json.Unmarshal(raw, &m); err != nil {
		return geo.Point{}, dispatch.Errorf(dispatch.CodeInvalid, "%s must be an object {\"lat\": ..., \"lon\": ...}", name)
	}
	var c [2]float64
	for i, f := range []string{"lat", "lon"} {
		v, ok := m[f]
		if !ok || isNull(v) {
			return geo.Point{}, dispatch.Errorf(dispatch.CodeInvalid, "%s.lat and %s.lon are required", name, name)
		}
		if err := json.Unmarshal(v, &c[i]); err != nil {
			return geo.Point{}, dispatch.Errorf(dispatch.CodeInvalid, "%s.%s must be a number of degrees", name, f)
		}
	}
	g := geo.Point{Lat: c[0], Lon: c[1]}
	if err := g.Validate(); err != nil {
		return geo.Point{}, dispatch.Errorf(dispatch.CodeInvalid, "%s: %s", name, strings.TrimPrefix(err.Error(), geo.ErrInvalidPoint.Error()+": "))
	}
	return g, nil
}

// optString reads an optional string field.
func (o object) optString(name string) (*string, error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, dispatch.Errorf(dispatch.CodeInvalid, "%s must be a string", name)
	}
	return &s, nil
}

// optInt reads an optional integer field.
func (o object) optInt(name string) (*int, error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, dispatch.Errorf(dispatch.CodeInvalid, "%s must be an integer", name)
	}
	return &n, nil
}

// trip reads pickup, dropoff and the optional quote_id.
func (o object) trip() (pickup, dropoff geo.Point, quoteID *string, err error) {
	if pickup, err = o.point("pickup"); err != nil {
		return
	}
	if dropoff, err = o.point("dropoff"); err != nil {
		return
	}
	quoteID, err = o.optString("quote_id")
	return
}

func (a *API) quote(w http.ResponseWriter, r *http.Request) {
	if _, err := a.authn.Identify(r, ""); err != nil {
		writeError(w, err)
		return
	}
	o, err := a.decode(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	pu, do, _, err := o.trip()
	if err != nil {
		writeError(w, err)
		return
	}
	q, err := a.eng.Quote(r.Context(), pu, do)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

func (a *API) createRide(w http.ResponseWriter, r *http.Request) {
	id, err := a.authn.Identify(r, auth.RoleRider)
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := a.decode(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	// An idempotent replay returns the ride it created: not charged to the
	// rider's budget, and not refused because its quote has expired since.
	key := r.Header.Get("Idempotency-Key")
	if prev, ok, err := a.eng.ReplayRide(r.Context(), id.ID, key); err != nil || ok {
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Location", "/v1/rides/"+prev.ID)
		writeJSON(w, http.StatusCreated, prev)
		return
	}
	pu, do, quoteID, err := o.trip()
	if err != nil {
		writeError(w, err)
		return
	}
	req := dispatch.RideRequest{Pickup: pu, Dropoff: do}
	if quoteID != nil {
		if *quoteID == "" {
			writeError(w, dispatch.Errorf(dispatch.CodeInvalid, "quote_id must not be empty"))
			return
		}
		req.QuoteID = *quoteID
	}
	// The rider's budget is charged only for a ride actually created: a
	// rejected request or an idempotent replay gives the token back.
	undo := func() {}
	if a.cfg.RideLimiter != nil {
		ok, cancel := a.cfg.RideLimiter(id.ID)
		if !ok {
			writeError(w, dispatch.Errorf(dispatch.CodeRateLimited, "too many ride requests, slow down"))
			return
		}
		undo = cancel
	}
	ride, created, err := a.eng.RequestRide(r.Context(), id.ID, req, key)
	if err != nil || !created {
		undo()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/rides/"+ride.ID)
	writeJSON(w, http.StatusCreated, ride)
}

func actor(id auth.Identity) dispatch.Actor { return dispatch.Actor{Role: id.Role, ID: id.ID} }

func (a *API) getRide(w http.ResponseWriter, r *http.Request) {
	id, err := a.authn.Identify(r, "")
	if err != nil {
		writeError(w, err)
		return
	}
	ride, err := a.eng.GetRide(r.Context(), actor(id), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ride)
}

func (a *API) cancelRide(w http.ResponseWriter, r *http.Request) {
	id, err := a.authn.Identify(r, "")
	if err != nil {
		writeError(w, err)
		return
	}
	ride, err := a.eng.CancelRide(r.Context(), actor(id), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ride)
}

func (a *API) rate(w http.ResponseWriter, r *http.Request) {
	id, err := a.authn.Identify(r, "")
	if err != nil {
		writeError(w, err)
		return
	}
	if id.ID == "" {
		writeError(w, dispatch.Errorf(dispatch.CodeUnauth, "rating needs an identity: rider_id or driver_id in open mode"))
		return
	}
	o, err := a.decode(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	stars, err := o.optInt("stars")
	if err == nil && stars == nil {
		err = dispatch.Errorf(dispatch.CodeInvalid, "stars is required")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	comment, err := o.optString("comment")
	if err != nil {
		writeError(w, err)
		return
	}
	c := ""
	if comment != nil {
		c = *comment
	}
	ride, err := a.eng.Rate(r.Context(), actor(id), r.PathValue("id"), *stars, c)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ride)
}

type nearbyDriver struct {
	ID        string  `json:"id"`
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	DistanceM float64 `json:"distance_m"`
}

func (a *API) nearby(w http.ResponseWriter, r *http.Request) {
	if _, err := a.authn.Identify(r, ""); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	lat, err := floatParam(q.Get("lat"), "lat", math.NaN())
	if err != nil {
		writeError(w, err)
		return
	}
	lon, err := floatParam(q.Get("lon"), "lon", math.NaN())
	if err != nil {
		writeError(w, err)
		return
	}
	radius, err := floatParam(q.Get("radius_m"), "radius_m", 5000)
	if err != nil {
		writeError(w, err)
		return
	}
	limit := 10
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil {
			writeError(w, dispatch.Errorf(dispatch.CodeInvalid, "limit must be an integer"))
			return
		}
	}
	center := geo.Point{Lat: lat, Lon: lon}
	if err := center.Validate(); err != nil {
		// The message names the query parameters, lat and lon.
		writeError(w, dispatch.Errorf(dispatch.CodeInvalid, "%s", strings.TrimPrefix(err.Error(), geo.ErrInvalidPoint.Error()+": ")))
		return
	}
	cands, err := a.eng.Nearby(r.Context(), center, radius, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]nearbyDriver, len(cands))
	for i, c := range cands {
		out[i] = nearbyDriver{ID: c.ID, Lat: c.Point.Lat, Lon: c.Point.Lon, DistanceM: math.Round(c.Distance*10) / 10}
	}
	writeJSON(w, http.StatusOK, map[string]any{"drivers": out})
}

func floatParam(s, name string, def float64) (float64, error) {
	if s == "" {
		if math.IsNaN(def) {
			return 0, dispatch.Errorf(dispatch.CodeInvalid, "%s is required", name)
		}
		return def, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, dispatch.Errorf(dispatch.CodeInvalid, "%s must be a finite number", name)
	}
	return v, nil
}

// errTooLarge marks a body over the limit (413).
var errTooLarge = errors.New("payload too large")

// decode reads the body (at most MaxBodyBytes: 413 beyond) and parses it
// as exactly one JSON object, nothing before or after it but whitespace.
func (a *API) decode(w http.ResponseWriter, r *http.Request) (object, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: body exceeds %d bytes", errTooLarge, mbe.Limit)
		}
		return nil, dispatch.Errorf(dispatch.CodeInvalid, "could not read the request body")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, dispatch.Errorf(dispatch.CodeInvalid, "request body must be a JSON object")
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se) && se.Offset >= int64(len(trimmed)):
			return nil, dispatch.Errorf(dispatch.CodeInvalid, "request body is truncated JSON")
		case err == nil:
			return nil, dispatch.Errorf(dispatch.CodeInvalid, "request body must hold exactly one JSON object")
		}
		return nil, dispatch.Errorf(dispatch.CodeInvalid, "request body is not valid JSON: %v", err)
	}
	if trimmed[0] != '{' {
		return nil, dispatch.Errorf(dispatch.CodeInvalid, "request body must be a JSON object")
	}
	var o object
	if err := json.Unmarshal(trimmed, &o); err != nil {
		return nil, dispatch.Errorf(dispatch.CodeInvalid, "request body is not valid JSON: %v", err)
	}
	// encoding/json keeps the last of duplicated members, other parsers
	// the first: refuse them rather than read another request than a
	// proxy in front of us did.
	if dup, ok := jsonobj.FirstDuplicate(trimmed); ok {
		if len(dup) > 64 {
			dup = dup[:64] + "…"
		}
		return nil, dispatch.Errorf(dispatch.CodeInvalid, "duplicate field %q in the request body", dup)
	}
	return o, nil
}

// writeError is the one place that maps errors to HTTP statuses.
func writeError(w http.ResponseWriter, err error) {
	code, msg := dispatch.ErrorCode(err), dispatch.ErrorMessage(err)
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, errTooLarge):
		code, msg, status = "payload_too_large", err.Error(), http.StatusRequestEntityTooLarge
	case errors.Is(err, auth.ErrUnauthenticated):
		code, msg, status = dispatch.CodeUnauth, strings.TrimPrefix(err.Error(), auth.ErrUnauthenticated.Error()+": "), http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden):
		code, msg, status = dispatch.CodePermission, strings.TrimPrefix(err.Error(), auth.ErrForbidden.Error()+": "), http.StatusForbidden
	default:
		switch code {
		case dispatch.CodeInvalid:
			status = http.StatusBadRequest
		case dispatch.CodeUnauth:
			status = http.StatusUnauthorized
		case dispatch.CodePermission:
			status = http.StatusForbidden
		case dispatch.CodeNotFound:
			status = http.StatusNotFound
		case dispatch.CodePrecondition, dispatch.CodeConflict, dispatch.CodeOfferTaken, dispatch.CodeOfferExpired, dispatch.CodeOfferCanceled:
			status = http.StatusConflict
		case dispatch.CodeRateLimited:
			status = http.StatusTooManyRequests
		case dispatch.CodeUnavailable:
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
