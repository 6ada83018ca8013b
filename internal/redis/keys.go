package redis

import (
	"fmt"
	"strings"
)

// keys names every key of one region. All but the lock keys share the hash
// tag {region}, so a script may touch any of them on Redis Cluster.
type keys struct {
	region string
	prefix string // "dispatch:{region}:"
}

func newKeys(region string) (keys, error) {
	if region == "" || strings.ContainsAny(region, "{}") {
		return keys{}, fmt.Errorf("redis: invalid region %q: must be non-empty, without braces", region)
	}
	return keys{region: region, prefix: "dispatch:{" + region + "}:"}, nil
}

// node is a node's heartbeat: a string that expires unless refreshed.
func (k keys) node(id string) string { return k.prefix + "node:" + id }

// ride is a hash {v: version, data: JSON}.
func (k keys) ride(id string) string { return k.prefix + "ride:" + id }

// driver is a hash {v: version, data: JSON}.
func (k keys) driver(id string) string { return k.prefix + "driver:" + id }

// idem is a string holding a ride id, with a TTL.
func (k keys) idem(key string) string { return k.prefix + "idem:" + key }

// timers is a sorted set of scheduler keys scored by due time (Unix ms).
func (k keys) timers() string { return k.prefix + "timers" }

// geo is the GEO set (a sorted set of 52-bit geohashes) of driver positions.
func (k keys) geo() string { return k.prefix + "geo" }

// seen is a sorted set of driver ids scored by their last fix (Unix ms).
func (k keys) seen() string { return k.prefix + "seen" }

// pos is a hash driver id -> "lat,lon,seen" with the raw coordinates.
func (k keys) pos() string { return k.prefix + "pos" }

// avail is a set of the driver ids marked available.
func (k keys) avail() string { return k.prefix + "avail" }

// lock names a lock key. It carries no hash tag on purpose: locks are
// single-key, so they spread over the Cluster's slots.
func (k keys) lock(key string) string { return "dispatch:" + k.region + ":lock:" + key }
