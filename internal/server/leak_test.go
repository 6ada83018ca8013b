package server_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when, after every test has shut its servers
// down, goroutines of this module are still running: a server, hub,
// engine, connection or Redis loop that Shutdown did not stop.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForOurGoroutines(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked after all servers shut down:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitForOurGoroutines(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var ours []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "ridehail/dispatch/") && !strings.Contains(g, "waitForOurGoroutines") && !strings.Contains(g, "testing.(*M)") {
				ours = append(ours, g)
			}
		}
		if len(ours) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(ours, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
