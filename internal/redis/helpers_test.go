package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The Redis tests need a real, throwaway Redis: scripts/test.sh starts a
// single server and a three-master Cluster and exports these variables.
const (
	envSingle  = "DISPATCH_TEST_REDIS_URL"
	envCluster = "DISPATCH_TEST_REDIS_CLUSTER"
)

func singleURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(envSingle)
	if u == "" {
		tb.Fatalf("%s is not set: the Redis backend tests need a real Redis; run them through scripts/test.sh, which starts a throwaway single Redis and Redis Cluster and exports %s and %s", envSingle, envSingle, envCluster)
	}
	return u
}

func clusterURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(envCluster)
	if u == "" {
		tb.Fatalf("%s is not set: the Redis Cluster tests need a real Redis Cluster; run them through scripts/test.sh, which starts one and exports %s (host:port,host:port,...)", envCluster, envCluster)
	}
	return "redis-cluster://" + u
}

// servers lists the Redis deployments every shared-state test runs on.
func servers(tb testing.TB) []struct{ name, url string } {
	return []struct{ name, url string }{{"single", singleURL(tb)}, {"cluster", clusterURL(tb)}}
}

// testRegion returns a region name no other test uses, so tests sharing a
// server never see each other's keys.
func testRegion() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t-" + hex.EncodeToString(b)
}

// openTest opens a backend on url for a fresh region (unless opt.Region is
// set) and, at cleanup, deletes the region's keys and closes it.
func openTest(tb testing.TB, url string, opt Options) *Backend {
	tb.Helper()
	if opt.Region == "" {
		opt.Region = testRegion()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Open(ctx, url, opt)
	if err != nil {
		tb.Fatalf("open %s: %v", url, err)
	}
	tb.Cleanup(func() {
		deleteRegion(tb, b.Client, opt.Region)
		_ = b.Close()
	})
	return b
}

// deleteRegion deletes the keys of region, and only those (no FLUSHDB:
// the server is shared).
func deleteRegion(tb testing.TB, c goredis.UniversalClient, region string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	patterns := []string{"dispatch:{" + region + "}:*", "dispatch:" + region + ":lock:*"}
	del := func(ctx context.Context, n *goredis.Client) error {
		for _, p := range patterns {
			it := n.Scan(ctx, 0, p, 1000).Iterator()
			for it.Next(ctx) {
				if err := n.Del(ctx, it.Val()).Err(); err != nil && !strings.Contains(err.Error(), "MOVED") {
					return err
				}
			}
			if err := it.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch cl := c.(type) {
	case *goredis.ClusterClient:
		err = cl.ForEachMaster(ctx, del)
	case *goredis.Client:
		err = del(ctx, cl)
	}
	if err != nil {
		tb.Errorf("delete test keys of region %s: %v", region, err)
	}
}

// regionKeys counts the keys of region still on the server.
func regionKeys(tb testing.TB, c goredis.UniversalClient, region string) int {
	tb.Helper()
	ctx := context.Background()
	var n atomic.Int64 // ForEachMaster runs in parallel
	count := func(ctx context.Context, cl *goredis.Client) error {
		for _, p := range []string{"dispatch:{" + region + "}:*", "dispatch:" + region + ":lock:*"} {
			it := cl.Scan(ctx, 0, p, 1000).Iterator()
			for it.Next(ctx) {
				n.Add(1)
			}
			if err := it.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch cl := c.(type) {
	case *goredis.ClusterClient:
		err = cl.ForEachMaster(ctx, count)
	case *goredis.Client:
		err = count(ctx, cl)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return int(n.Load())
}
