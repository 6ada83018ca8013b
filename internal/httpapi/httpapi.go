// Package httpapi serves the HTTP part of the wire contract: quotes, rides,
// nearby drivers, health and metrics. Errors are mapped to statuses in one
// place (writeError).
package httpapi

import (
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

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/auth"
	"github.com/ridehail/dispatch/pricing"
)

// Engine is what the HTTP API needs of the dispatch engine.
type Engine interface {
	Quote(ctx context.Context, pickup, dropoff geo.Point) (pricing.Quote, error)
	RequestRide(ctx context.Context, riderID string, req dispatch.RideRequest, idemKey string) (*dispatch.Ride, bool, error)
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
	// RideLimiter, when set, is asked before each ride request; false
	// answers 429.
	RideLimiter func(riderID string) bool
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
		if err := a.cfg.Ready(r.Context()); err != nil {
			writeError(w, &dispatch.Error{Code: dispatch.CodeUnavailable, Message: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// point is a coordinate as sent by clients: both fields required.
type point struct {
	Lat *float64 `json:"lat"`
	Lon *float64 `json:"lon"`
}

func (p *point) get(name string) (geo.Point, error) {
	if p == nil {
		return geo.Point{}, dispatch.Errorf(dispatch.CodeInvalid, "%s is required", name)
	}
	if p.Lat == nil || p.Lon == nil {
		return geo.Point{}, dispatch.Errorf(dispatch.CodeInvalid, "%s.lat and %s.lon are required", name, name)
	}
	g := geo.Point{Lat: *p.Lat, Lon: *p.Lon}
	if err := g.Validate(); err != nil {
		return geo.Point{}, dispatch.Errorf(dispatch.CodeInvalid, "%s: %s", name, strings.TrimPrefix(err.Error(), geo.ErrInvalidPoint.Error()+": "))
	}
	return g, nil
}

type tripBody struct {
	Pickup  *point  `json:"pickup"`
	Dropoff *point  `json:"dropoff"`
	QuoteID *string `json:"quote_id"`
}

func (b *tripBody) points() (geo.Point, geo.Point, error) {
	pu, err := b.Pickup.get("pickup")
	if err != nil {
		return geo.Point{}, geo.Point{}, err
	}
	do, err := b.Dropoff.get("dropoff")
	return pu, do, err
}

func (a *API) quote(w http.ResponseWriter, r *http.Request) {
	if _, err := a.authn.Identify(r, ""); err != nil {
		writeError(w, err)
		return
	}
	var b tripBody
	if err := a.decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	pu, do, err := b.points()
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
	var b tripBody
	if err := a.decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	pu, do, err := b.points()
	if err != nil {
		writeError(w, err)
		return
	}
	req := dispatch.RideRequest{Pickup: pu, Dropoff: do}
	if b.QuoteID != nil {
		if *b.QuoteID == "" {
			writeError(w, dispatch.Errorf(dispatch.CodeInvalid, "quote_id must not be empty"))
			return
		}
		req.QuoteID = *b.QuoteID
	}
	if a.cfg.RideLimiter != nil && !a.cfg.RideLimiter(id.ID) {
		writeError(w, dispatch.Errorf(dispatch.CodeRateLimited, "too many ride requests, slow down"))
		return
	}
	ride, _, err := a.eng.RequestRide(r.Context(), id.ID, req, r.Header.Get("Idempotency-Key"))
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
	var b struct {
		Stars   *int    `json:"stars"`
		Comment *string `json:"comment"`
	}
	if err := a.decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	if b.Stars == nil {
		writeError(w, dispatch.Errorf(dispatch.CodeInvalid, "stars is required"))
		return
	}
	comment := ""
	if b.Comment != nil {
		comment = *b.Comment
	}
	ride, err := a.eng.Rate(r.Context(), actor(id), r.PathValue("id"), *b.Stars, comment)
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
	cands, err := a.eng.Nearby(r.Context(), geo.Point{Lat: lat, Lon: lon}, radius, limit)
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

// decode reads one JSON object from the body into v with a size limit.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &mbe):
			return fmt.Errorf("%w: body exceeds %d bytes", errTooLarge, mbe.Limit)
		case errors.Is(err, io.EOF):
			return dispatch.Errorf(dispatch.CodeInvalid, "request body must be a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return dispatch.Errorf(dispatch.CodeInvalid, "request body is truncated JSON")
		case errors.As(err, &ute):
			return dispatch.Errorf(dispatch.CodeInvalid, "%s must be %s, not %s", fieldName(ute), ute.Type.String(), ute.Value)
		case errors.As(err, &se):
			return dispatch.Errorf(dispatch.CodeInvalid, "request body is not valid JSON: %v", se)
		}
		return dispatch.Errorf(dispatch.CodeInvalid, "request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return dispatch.Errorf(dispatch.CodeInvalid, "request body must hold exactly one JSON object")
	}
	return nil
}

func fieldName(e *json.UnmarshalTypeError) string {
	if e.Field == "" {
		return "body"
	}
	return e.Field
}

// writeError is the one place that maps errors to HTTP statuses.
func writeError(w http.ResponseWriter, err error) {
	code, msg := dispatch.ErrorCode(err), dispatch.ErrorMessage(err)
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, errTooLarge):
		code, msg, status = "payload_too_large", err.Error(), http.StatusRequestEntityTooLarge
	case errors.Is(err, auth.ErrUnauthenticated):
		code, msg, status = dispatch.CodeUnauth, err.Error(), http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden):
		code, msg, status = dispatch.CodePermission, err.Error(), http.StatusForbidden
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
