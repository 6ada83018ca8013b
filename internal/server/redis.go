package server

import (
	"context"
	"fmt"
	"net/url"

	"github.com/ridehail/dispatch/dispatch"
	rstore "github.com/ridehail/dispatch/internal/redis"
)

// useRedis points the engine's storage at a Redis backend.
func (s *Server) useRedis(ctx context.Context, deps *dispatch.Deps) error {
	be, err := rstore.Open(ctx, s.cfg.RedisURL, rstore.Options{
		Region:        s.cfg.Region,
		StaleAfter:    s.cfg.Engine.StaleAfter,
		RideRetention: s.cfg.Engine.RideRetention,
		Logger:        s.cfg.Logger,
		NodeID:        s.nodeID,
		NodeTTL:       s.cfg.NodeTTL,
		EngineSweeps:  true,
	})
	if err != nil {
		return fmt.Errorf("redis %s: %w", redact(s.cfg.RedisURL), err)
	}
	deps.Rides, deps.Drivers = be.Store, be.Store
	deps.Locker, deps.Scheduler, deps.Locator = be.Locker, be.Scheduler, be.Locator
	deps.Presence = be
	s.broker = rstore.NewBroker(be.Client, s.cfg.Region, s.cfg.Logger)
	s.runners = append(s.runners, be.Run)
	s.closers = append(s.closers, be.Close)
	s.ready = be.Ping
	return nil
}

// redact hides a password in a Redis URL for logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
