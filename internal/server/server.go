// Package server wires the dispatch engine, pricing, the realtime hub, the
// HTTP API and (optionally) the Redis backend into one runnable server. It
// is the only place, besides cmd/, that knows the concrete implementations;
// dispatchd, ridesim's in-process mode and the end-to-end tests all start
// servers through it.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/auth"
	"github.com/ridehail/dispatch/internal/httpapi"
	"github.com/ridehail/dispatch/internal/metrics"
	"github.com/ridehail/dispatch/pricing"
	"github.com/ridehail/dispatch/realtime"
)

// Config configures a server. Zero fields take defaults.
type Config struct {
	// Addr is the listen address. 127.0.0.1:8080; ":0"-style ports pick
	// a free one.
	Addr string
	// AuthSecret enables JWT HS256 auth. Empty: open development mode.
	AuthSecret string
	// AllowedOrigins lists browser origins allowed on the WebSockets.
	AllowedOrigins []string
	// RedisURL makes this server one node of a cluster sharing state
	// through Redis. Empty: embedded in-memory state.
	RedisURL string
	// Region names this deployment's region (the Redis hash tag). "default".
	Region string
	// NodeTTL (with RedisURL) is how long a node whose heartbeat stopped
	// still counts as alive: after it, the drivers connected to it are
	// handled as disconnected once they are stale. 15 s.
	NodeTTL time.Duration
	// PricingFile is a JSON fare-rules file; empty uses the built-in rules.
	PricingFile string
	// QuoteSecret signs quotes. Defaults to AuthSecret, else random (one
	// node) — a cluster must share it.
	QuoteSecret string
	// RidesPerHour limits ride requests per rider. 100; negative disables.
	RidesPerHour int
	// Engine tunes the matcher.
	Engine dispatch.Config
	// Hub tunes the WebSocket layer.
	Hub realtime.HubConfig
	// ShutdownTimeout bounds graceful shutdown. 10 s.
	ShutdownTimeout time.Duration
	// Logger receives logs. Discarded when nil.
	Logger *slog.Logger
	// Clock overrides the engine's clock (tests).
	Clock dispatch.Clock
}

// Server is a running dispatch server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	engine  *dispatch.Engine
	hub     *realtime.Hub
	http    *http.Server
	ln      net.Listener
	closers []func() error
	runners []func(ctx context.Context) error
	ready   func(ctx context.Context) error
	broker  realtime.Broker
	nodeID  string // this node in driver records, heartbeats and session notices

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// New builds a server. It opens the Redis connection when configured but
// starts no goroutine and listens on nothing until Start.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.Region == "" {
		cfg.Region = "default"
	}
	if cfg.RidesPerHour == 0 {
		cfg.RidesPerHour = 100
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, nodeID: cfg.Hub.NodeID}
	if s.nodeID == "" {
		s.nodeID = uuid.NewString()
	}
	clock := cfg.Clock
	if clock == nil {
		clock = wall{}
	}

	pcfg := pricing.DefaultConfig()
	if cfg.PricingFile != "" {
		f, err := os.Open(cfg.PricingFile)
		if err != nil {
			return nil, fmt.Errorf("pricing file: %w", err)
		}
		pcfg, err = pricing.LoadConfig(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("pricing file %s: %w", cfg.PricingFile, err)
		}
	}
	secret := []byte(cfg.QuoteSecret)
	if len(secret) == 0 {
		secret = []byte(cfg.AuthSecret)
	}
	if len(secret) == 0 {
		if cfg.RedisURL != "" {
			return nil, errors.New("a cluster (-redis) needs a shared quote secret: set -quote-secret or -auth-secret")
		}
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("quote secret: %w", err)
		}
	}
	// Derive a fixed-size key so that short secrets are accepted too.
	key := sha256.Sum256(append([]byte("dispatch quote key\x00"), secret...))
	calc, err := pricing.NewCalculator(pcfg, key[:], clock.Now)
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}

	deps := dispatch.Deps{Pricer: calc, Clock: clock}
	if cfg.RedisURL != "" {
		if err := s.useRedis(ctx, &deps); err != nil {
			return nil, err
		}
	} else {
		loc := dispatch.NewMemLocator()
		deps.Locator = loc
		stale := cfg.Engine.StaleAfter
		if stale <= 0 {
			stale = 30 * time.Second
		}
		calc.SetSupplyFunc(func(c geo.Point, r float64) int {
			return loc.Index().Count(c, r, clock.Now().Add(-stale).UnixMilli())
		})
		s.ready = func(context.Context) error { return nil }
	}
	m := metrics.New()
	ecfg := cfg.Engine
	ecfg.Logger = cfg.Logger
	ecfg.NodeID = s.nodeID
	if ecfg.FixLag == nil {
		ecfg.FixLag = m.FixLag()
	}
	eng, err := dispatch.New(ecfg, deps)
	if err != nil {
		return nil, err
	}
	s.engine = eng

	hcfg := cfg.Hub
	hcfg.Logger = cfg.Logger
	hcfg.NodeID = s.nodeID
	if s.broker != nil {
		hcfg.Broker = s.broker
	}
	s.hub = realtime.NewHub(hcfg)
	rcfg := realtime.HandlerConfig{AllowedOrigins: cfg.AllowedOrigins}
	eng.SetNotifier(s.hub)
	authn := auth.New([]byte(cfg.AuthSecret), nil)

	m.Engine(eng.Stats)
	m.Gauge("dispatch_ws_connections", "Open WebSocket connections.", func() float64 {
		st := s.hub.Stats()
		return float64(st.DriverConns + st.RiderConns)
	})

	api := httpapi.New(eng, authn, httpapi.Config{
		Ready:       s.ready,
		Metrics:     m.Handler(),
		RideLimiter: newRideLimiter(cfg.RidesPerHour),
		Logger:      cfg.Logger,
	})
	mux := http.NewServeMux()
	api.Register(mux)
	mux.Handle("GET /v1/driver/ws", realtime.DriverHandler(eng, s.hub, authn, rcfg))
	mux.Handle("GET /v1/rider/ws", realtime.RiderHandler(eng, s.hub, authn, rcfg))
	s.http = &http.Server{
		Handler:           m.Instrument(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // WebSockets set their own deadlines after the upgrade
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	if authn.Open() {
		cfg.Logger.Warn("OPEN DEVELOPMENT MODE: no auth secret configured; identities are taken from the driver_id / rider_id query parameters. Never expose this server.")
	}
	return s, nil
}

// Engine returns the dispatch engine.
func (s *Server) Engine() *dispatch.Engine { return s.engine }

// Hub returns the realtime hub.
func (s *Server) Hub() *realtime.Hub { return s.hub }

// Start listens and starts serving and the background loops.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := s.hub.Open(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("realtime hub: %w", err)
	}
	s.goRun(func() error {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	s.goRun(func() error { return s.engine.Run(ctx) })
	s.goRun(func() error { return s.hub.Run(ctx) })
	for _, r := range s.runners {
		s.goRun(func() error { return r(ctx) })
	}
	s.log.Info("dispatchd listening", "addr", ln.Addr().String(), "redis", s.cfg.RedisURL != "")
	return nil
}

func (s *Server) goRun(f func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := f(); err != nil {
			s.log.Error("server loop stopped", "err", err)
		}
	}()
}

// Addr returns the listening address (after Start).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the base HTTP URL (after Start).
func (s *Server) URL() string { return "http://" + s.Addr() }

// Shutdown stops accepting connections, closes every WebSocket with a close
// frame, lets in-flight requests finish, stops the background loops and
// waits for them. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		if s.ln != nil {
			errs = append(errs, s.http.Shutdown(ctx))
		}
		errs = append(errs, s.hub.Shutdown(ctx))
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		for _, c := range s.closers {
			errs = append(errs, c())
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

type wall struct{}

func (wall) Now() time.Time { return time.Now() }

// newRideLimiter limits each rider to perHour new rides: a token bucket of
// perHour tokens refilled evenly over an hour. undo gives the token back
// (x/time/rate's Reservation.Cancel cannot, once the reservation was due).
func newRideLimiter(perHour int) func(string) (bool, func()) {
	if perHour < 0 {
		return nil
	}
	type bucket struct {
		tokens float64
		at     time.Time
	}
	var mu sync.Mutex
	buckets := map[string]*bucket{}
	burst, rate := float64(perHour), float64(perHour)/3600 // tokens per second
	refill := func(b *bucket, now time.Time) {
		b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
		b.at = now
	}
	return func(rider string) (bool, func()) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		b, ok := buckets[rider]
		if !ok {
			if len(buckets) > 100_000 {
				for k, v := range buckets {
					if refill(v, now); v.tokens >= burst {
						delete(buckets, k)
					}
				}
			}
			b = &bucket{tokens: burst, at: now}
			buckets[rider] = b
		}
		refill(b, now)
		if b.tokens < 1 {
			return false, nil
		}
		b.tokens--
		var once sync.Once
		return true, func() {
			once.Do(func() {
				mu.Lock()
				b.tokens = min(burst, b.tokens+1)
				mu.Unlock()
			})
		}
	}
}
