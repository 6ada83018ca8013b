// Command dispatchd is the ride-hailing dispatch server. With no flags it
// runs on the embedded in-memory default; with -redis it is one node of a
// cluster sharing state through Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ridehail/dispatch/internal/server"
)

var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "dispatchd:", err)
		os.Exit(1)
	}
}

// run parses flags (each with an environment variable default), starts the
// server and blocks until SIGINT/SIGTERM, then shuts down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, level, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	ec := srv.Engine().Config()
	state := "memory"
	if cfg.RedisURL != "" {
		state = "redis"
	}
	cfg.Logger.Info("dispatchd ready", "version", version, "url", srv.URL(), "state", state, "region", cfg.Region,
		"policy", ec.Policy, "offer_count", ec.OfferCount, "offer_timeout", ec.OfferTimeout,
		"radius_m", ec.Radius, "radius_step_m", ec.RadiusStep, "max_radius_m", ec.MaxRadius,
		"match_timeout", ec.MatchTimeout, "stale_after", ec.StaleAfter, "disconnect_grace", ec.DisconnectGrace,
		"ride_retention", ec.RideRetention, "auth", cfg.AuthSecret != "")
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return srv.Shutdown(context.Background())
}

// flagSet binds flags whose defaults come from DISPATCHD_* variables.
type flagSet struct {
	*flag.FlagSet
	errs []error
}

func envName(name string) string {
	return "DISPATCHD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (f *flagSet) str(p *string, name, def, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v
	}
	f.StringVar(p, name, def, usage+" (env "+envName(name)+")")
}

func (f *flagSet) int(p *int, name string, def int, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s: %w", envName(name), err))
		}
		def = n
	}
	f.IntVar(p, name, def, usage+" (env "+envName(name)+")")
}

func (f *flagSet) float(p *float64, name string, def float64, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s: %w", envName(name), err))
		}
		def = n
	}
	f.Float64Var(p, name, def, usage+" (env "+envName(name)+")")
}

func (f *flagSet) dur(p *time.Duration, name string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s: %w", envName(name), err))
		}
		def = d
	}
	f.DurationVar(p, name, def, usage+" (env "+envName(name)+")")
}

func parseFlags(args []string, stderr io.Writer) (server.Config, slog.Level, error) {
	var cfg server.Config
	fs := &flagSet{FlagSet: flag.NewFlagSet("dispatchd", flag.ContinueOnError)}
	fs.SetOutput(stderr)
	var origins, logLevel string
	var readLimit int
	fs.str(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.str(&cfg.AuthSecret, "auth-secret", "", "HS256 secret for JWT bearer tokens; empty runs the open development mode")
	fs.str(&origins, "allowed-origins", "", "comma-separated browser origins allowed on the WebSockets")
	fs.str(&cfg.RedisURL, "redis", "", "Redis URL (redis://, rediss://, unix://, redis-cluster://h:p,h:p, redis-sentinel://master@h:p); empty = embedded in-memory state")
	fs.str(&cfg.Region, "region", "default", "region name (Redis hash tag)")
	fs.dur(&cfg.NodeTTL, "node-ttl", 15*time.Second, "with -redis: how long a node whose heartbeat stopped (killed) counts as alive; then its drivers count as disconnected once stale")
	fs.str(&cfg.PricingFile, "pricing", "", "fare rules JSON file (default: built-in rules)")
	fs.str(&cfg.QuoteSecret, "quote-secret", "", "HMAC secret for quotes (default: the auth secret; required in a cluster)")
	fs.int(&cfg.RidesPerHour, "rides-per-hour", 100, "ride requests allowed per rider per hour (-1: unlimited)")
	fs.str(&cfg.Engine.Policy, "policy", "broadcast", "matching policy: broadcast or sequential")
	fs.int(&cfg.Engine.OfferCount, "offer-count", 10, "drivers offered a ride per broadcast round (N)")
	fs.dur(&cfg.Engine.OfferTimeout, "offer-timeout", 0, "time a driver has to accept (T; default 15s broadcast, 8s sequential)")
	fs.float(&cfg.Engine.Radius, "radius", 5000, "first search radius in metres (R)")
	fs.float(&cfg.Engine.RadiusStep, "radius-step", 2500, "radius widening per round in metres")
	fs.float(&cfg.Engine.MaxRadius, "max-radius", 15000, "largest search radius in metres")
	fs.dur(&cfg.Engine.MatchTimeout, "match-timeout", 120*time.Second, "time before a ride with no driver becomes no_driver")
	fs.dur(&cfg.Engine.StaleAfter, "stale-after", 30*time.Second, "driver freshness window")
	fs.dur(&cfg.Engine.DisconnectGrace, "disconnect-grace", 30*time.Second, "how long an assigned driver may be disconnected")
	fs.dur(&cfg.Engine.RideRetention, "ride-retention", 24*time.Hour, "how long a finished ride (completed, cancelled, no_driver) stays readable; at least 24h, the idempotency window")
	fs.dur(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "graceful shutdown bound")
	fs.int(&readLimit, "ws-read-limit", 4096, "largest WebSocket frame accepted, in bytes (a larger one closes with 1009); bounds a locations batch")
	fs.str(&logLevel, "log-level", "info", "debug, info, warn or error")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := errors.Join(fs.errs...); err != nil {
		return cfg, 0, err
	}
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if fs.NArg() > 0 {
		return cfg, 0, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *showVersion {
		fmt.Fprintln(stderr, "dispatchd", version)
		return cfg, 0, flag.ErrHelp
	}
	if origins != "" {
		for _, o := range strings.Split(origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
			}
		}
	}
	if readLimit < 512 || readLimit > 1<<20 {
		return cfg, 0, fmt.Errorf("-ws-read-limit must be within [512, 1048576] bytes, got %d", readLimit)
	}
	cfg.Hub.ReadLimit = int64(readLimit)
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return cfg, 0, fmt.Errorf("-log-level: %w", err)
	}
	return cfg, level, nil
}
