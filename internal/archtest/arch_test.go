// Package archtest holds the dependency rules of the module as tests, so
// they cannot rot: the domain packages import no transport and no storage
// client, and no adapter imports another adapter.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/ridehail/dispatch/"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestDomainImportsNoTransportOrStorage(t *testing.T) {
	forbidden := []string{"net/http", "net/rpc", "github.com/gorilla/websocket", "github.com/redis/go-redis/v9", "github.com/bsm/redislock"}
	for _, pkg := range []string{"geo", "pricing", "dispatch"} {
		got := deps(t, pkg)
		for _, d := range got {
			for _, f := range forbidden {
				if d == f {
					t.Errorf("%s depends on %s", pkg, f)
				}
			}
			if strings.HasPrefix(d, mod+"internal/") || strings.HasPrefix(d, mod+"realtime") {
				t.Errorf("%s depends on adapter %s", pkg, d)
			}
		}
	}
}

func TestAdaptersStayApart(t *testing.T) {
	for pkg, banned := range map[string][]string{
		"realtime":       {"internal/redis", "internal/server", "internal/httpapi"},
		"internal/redis": {"internal/server", "internal/httpapi", "internal/sim"},
		"internal/sim":   {"internal/redis", "internal/server"},
		"geo":            {"pricing", "dispatch"},
		"pricing":        {"dispatch"},
	} {
		for _, d := range deps(t, pkg) {
			for _, b := range banned {
				if d == mod+b {
					t.Errorf("%s imports %s", pkg, b)
				}
			}
		}
	}
}
