// Package redis is the shared Redis backend of the dispatch engine: it
// implements dispatch.RideStore, DriverStore, Locker, Scheduler and Locator
// on a go-redis UniversalClient, so a single server, Sentinel and Redis
// Cluster all work and any number of dispatchd nodes share one state.
//
// Every key of a region carries the hash tag {region}, so each multi-key
// Lua script touches a single Cluster slot. Lock keys are single-key and
// are spread over the slots. docs/decisions-redis.md lists every key, its
// type and TTL, and explains the scripts.
//
// The Locator keeps this node's not-yet-mirrored fixes in an in-memory
// geo.Index; Update never waits for Redis. Backend.Run flushes them, as one
// pipeline, every Options.FlushInterval and sweeps stale drivers every
// Options.SweepInterval. All types are safe for concurrent use.
package redis
