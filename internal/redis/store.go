package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ridehail/dispatch/dispatch"
)

// Store is the Redis dispatch.RideStore and dispatch.DriverStore. Rides
// and drivers are hashes {v: version, data: JSON}; every write is a Lua
// compare-and-set on v, which is the fence behind the per-ride lock.
type Store struct {
	c         goredis.UniversalClient
	k         keys
	idemTTL   time.Duration
	retention time.Duration
}

var (
	_ dispatch.RideStore   = (*Store)(nil)
	_ dispatch.DriverStore = (*Store)(nil)
)

// NewStore returns a store for region on c. Idempotency keys live for
// idemTTL (24 h when zero). A finished ride (completed, cancelled,
// no_driver) expires retention after its last change (24 h when zero;
// never sooner than idemTTL, so that a replayed request finds its ride);
// live rides and drivers have no TTL.
func NewStore(c goredis.UniversalClient, region string, idemTTL, retention time.Duration) (*Store, error) {
	k, err := newKeys(region)
	if err != nil {
		return nil, err
	}
	if idemTTL <= 0 {
		idemTTL = 24 * time.Hour
	}
	if retention <= 0 {
		retention = 24 * time.Hour
	}
	return &Store{c: c, k: k, idemTTL: idemTTL, retention: max(retention, idemTTL)}, nil
}

// rideRecord is a ride's stored JSON: the wire object plus the matcher
// state, which dispatch.Ride hides from JSON (json:"-").
type rideRecord struct {
	*dispatch.Ride
	Match dispatch.Matching `json:"match"`
}

func encodeRide(r *dispatch.Ride, version int64) (string, error) {
	c := *r
	c.Version = version
	b, err := json.Marshal(rideRecord{Ride: &c, Match: r.Match})
	return string(b), err
}

func decodeRide(data string, version int64) (*dispatch.Ride, error) {
	r := new(dispatch.Ride)
	rec := rideRecord{Ride: r}
	if err := json.Unmarshal([]byte(data), &rec); err != nil {
		return nil, err
	}
	r.Match = rec.Match
	r.Version = version
	return r, nil
}

// CreateRide implements dispatch.RideStore. With an idempotency key, the
// key check, the ride creation and SET key NX PX ttl are one Lua script.
func (s *Store) CreateRide(ctx context.Context, r *dispatch.Ride, idemKey string) (*dispatch.Ride, bool, error) {
	data, err := encodeRide(r, 1)
	if err != nil {
		return nil, false, fmt.Errorf("redis: create ride %s: encode: %w", r.ID, err)
	}
	ks := []string{s.k.ride(r.ID)}
	if idemKey != "" {
		ks = append(ks, s.k.idem(idemKey))
	}
	versionOK := 0
	if r.Version == 0 {
		versionOK = 1
	}
	res, err := scriptCreateRide.Run(ctx, s.c, ks, data, s.idemTTL.Milliseconds(), r.ID, versionOK).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("redis: create ride %s: %w", r.ID, err)
	}
	code, _ := res[0].(int64)
	switch code {
	case 1:
		r.Version = 1
		return r.Clone(), true, nil
	case 0:
		id, _ := res[1].(string)
		existing, err := s.Ride(ctx, id)
		if err != nil {
			return nil, false, fmt.Errorf("redis: create ride: replay of idempotency key: %w", err)
		}
		return existing, false, nil
	case -1:
		return nil, false, fmt.Errorf("create ride %s: %w", r.ID, dispatch.ErrConflict)
	default:
		return nil, false, fmt.Errorf("create ride %s: version must be 0: %w", r.ID, dispatch.ErrConflict)
	}
}

// RideByKey implements dispatch.RideStore.
func (s *Store) RideByKey(ctx context.Context, idemKey string) (*dispatch.Ride, error) {
	id, err := s.c.Get(ctx, s.k.idem(idemKey)).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("idempotency key: %w", dispatch.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("redis: idempotency key: %w", err)
	}
	return s.Ride(ctx, id)
}

// Ride implements dispatch.RideStore.
func (s *Store) Ride(ctx context.Context, id string) (*dispatch.Ride, error) {
	v, data, err := s.get(ctx, s.k.ride(id))
	if errors.Is(err, dispatch.ErrNotFound) {
		return nil, fmt.Errorf("ride %q: %w", id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("redis: ride %q: %w", id, err)
	}
	r, err := decodeRide(data, v)
	if err != nil {
		return nil, fmt.Errorf("redis: ride %q: decode: %w", id, err)
	}
	return r, nil
}

// UpdateRide implements dispatch.RideStore.
func (s *Store) UpdateRide(ctx context.Context, r *dispatch.Ride) error {
	data, err := encodeRide(r, r.Version+1)
	if err != nil {
		return fmt.Errorf("redis: update ride %s: encode: %w", r.ID, err)
	}
	var ttl time.Duration
	if r.Status.Terminal() {
		ttl = s.retention
	}
	if err := s.cas(ctx, "ride", r.ID, s.k.ride(r.ID), r.Version, data, false, ttl); err != nil {
		return err
	}
	r.Version++
	return nil
}

// Driver implements dispatch.DriverStore.
func (s *Store) Driver(ctx context.Context, id string) (*dispatch.Driver, error) {
	v, data, err := s.get(ctx, s.k.driver(id))
	if errors.Is(err, dispatch.ErrNotFound) {
		return nil, fmt.Errorf("driver %q: %w", id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("redis: driver %q: %w", id, err)
	}
	d := new(dispatch.Driver)
	if err := json.Unmarshal([]byte(data), d); err != nil {
		return nil, fmt.Errorf("redis: driver %q: decode: %w", id, err)
	}
	d.Version = v
	return d, nil
}

// UpdateDriver implements dispatch.DriverStore. Version 0 creates the
// record and fails with ErrConflict when it exists.
func (s *Store) UpdateDriver(ctx context.Context, d *dispatch.Driver) error {
	c := *d
	c.Version++
	b, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("redis: update driver %s: encode: %w", d.ID, err)
	}
	if err := s.cas(ctx, "driver", d.ID, s.k.driver(d.ID), d.Version, string(b), true, 0); err != nil {
		return err
	}
	d.Version++
	return nil
}

// get reads a versioned record.
func (s *Store) get(ctx context.Context, key string) (int64, string, error) {
	vals, err := s.c.HMGet(ctx, key, "v", "data").Result()
	if err != nil {
		return 0, "", err
	}
	vs, _ := vals[0].(string)
	data, _ := vals[1].(string)
	if vs == "" || data == "" {
		return 0, "", dispatch.ErrNotFound
	}
	v, err := strconv.ParseInt(vs, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("bad version %q: %w", vs, err)
	}
	return v, data, nil
}

// cas stores data at key with version expected+1 if the stored version is
// expected (0 = absent, allowed only when create is true).
func (s *Store) cas(ctx context.Context, kind, id, key string, expected int64, data string, create bool, ttl time.Duration) error {
	allow := 0
	if create {
		allow = 1
	}
	res, err := scriptCAS.Run(ctx, s.c, []string{key}, expected, data, allow, ttl.Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("redis: update %s %q: %w", kind, id, err)
	}
	code, _ := res[0].(int64)
	stored, _ := res[1].(int64)
	switch code {
	case 1:
		return nil
	case -1:
		return fmt.Errorf("%s %q: %w", kind, id, dispatch.ErrNotFound)
	default:
		return fmt.Errorf("%s %q at version %d, stored %d: %w", kind, id, expected, stored, dispatch.ErrConflict)
	}
}
