package redis

import (
	"slices"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// TestNewClient checks how each URL scheme maps to a go-redis client
// (no server needed: clients connect lazily).
func TestNewClient(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		c, err := NewClient("redis://u:secret@10.0.0.1:6380/2?pool_size=7")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.(*goredis.Client).Options()
		if o.Addr != "10.0.0.1:6380" || o.DB != 2 || o.Username != "u" || o.Password != "secret" || o.PoolSize != 7 || o.TLSConfig != nil {
			t.Fatalf("options %+v", o)
		}
	})
	t.Run("tls", func(t *testing.T) {
		c, err := NewClient("rediss://cache.example.com:6380/0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if o := c.(*goredis.Client).Options(); o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example.com" {
			t.Fatalf("TLS not set: %+v", o.TLSConfig)
		}
	})
	t.Run("unix", func(t *testing.T) {
		c, err := NewClient("unix:///run/redis/redis.sock?db=3")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if o := c.(*goredis.Client).Options(); o.Network != "unix" || o.Addr != "/run/redis/redis.sock" || o.DB != 3 {
			t.Fatalf("options %s %s %d", o.Network, o.Addr, o.DB)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		c, err := NewClient("redis-cluster://u:pw@h1:7000,h2:7001,h3:7002?dial_timeout=2s")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.(*goredis.ClusterClient).Options()
		if !slices.Equal(o.Addrs, []string{"h1:7000", "h2:7001", "h3:7002"}) || o.Username != "u" || o.Password != "pw" || o.DialTimeout.String() != "2s" {
			t.Fatalf("options %v %q %q %v", o.Addrs, o.Username, o.Password, o.DialTimeout)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		c, err := NewClient("redis-sentinel://mymaster@s1:26379,s2:26379/4")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, ok := c.(*goredis.Client); !ok {
			t.Fatalf("sentinel gave %T, want a failover *redis.Client", c)
		}
		if o := c.(*goredis.Client).Options(); o.DB != 4 {
			t.Fatalf("db %d, want 4", o.DB)
		}
	})
	for _, bad := range []string{"localhost:6379", "http://x", "redis-sentinel://s1:26379", "redis-cluster://h1:1,,h2:2", "redis-sentinel://@s1:1"} {
		if c, err := NewClient(bad); err == nil {
			c.Close()
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewClient("http://u:hunter2@x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}

// TestMultiHostURL checks the rewrite into go-redis's multi-address form.
func TestMultiHostURL(t *testing.T) {
	for _, c := range []struct{ scheme, rest, master, want string }{
		{"redis", "h1:1,h2:2", "", "redis://h1:1?addr=h2:2"},
		{"rediss", "u:p@h1:1,h2:2,h3:3?pool_size=3", "", "rediss://u:p@h1:1?addr=h2:2&addr=h3:3&pool_size=3"},
		{"redis", "s1:26379,s2:26379/2", "m", "redis://s1:26379/2?addr=s2:26379&master_name=m"},
		{"redis", "s1:26379", "m", "redis://s1:26379?master_name=m"},
	} {
		got, err := multiHostURL(c.scheme, c.rest, c.master)
		if err != nil || got != c.want {
			t.Errorf("multiHostURL(%q, %q, %q) = %q, %v; want %q", c.scheme, c.rest, c.master, got, err, c.want)
		}
	}
}

// Every client honours its callers' context deadlines: without
// ContextTimeoutEnabled, go-redis waits out its own read timeout on a hung
// server (a /readyz probe took 5 s against a paused Redis).
func TestClientsHonourContextDeadlines(t *testing.T) {
	for _, url := range []string{"redis://127.0.0.1:1/0", "unix:///tmp/x.sock", "redis-cluster://127.0.0.1:1,127.0.0.1:2", "redis-sentinel://m@127.0.0.1:1"} {
		c, err := NewClient(url)
		if err != nil {
			t.Fatal(err)
		}
		var on bool
		switch c := c.(type) {
		case *goredis.Client:
			on = c.Options().ContextTimeoutEnabled
		case *goredis.ClusterClient:
			on = c.Options().ContextTimeoutEnabled
		default:
			t.Fatalf("%s: client %T", url, c)
		}
		if !on {
			t.Errorf("%s: ContextTimeoutEnabled is off", url)
		}
		_ = c.Close()
	}
}
