#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs redis-server when it is
# missing (apt-get, as root), starts a throwaway single Redis and a
# three-master Redis Cluster on free loopback ports with no persistence,
# runs gofmt/vet, the tests under -race (the Redis suites included) and a
# short run of every fuzz target, then stops the Redis servers it started.
# It never touches a Redis it did not start.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-5s}
work=$(mktemp -d /tmp/dispatch-test.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "== installing redis-server (apt-get)"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
	else
		echo "redis-server is missing and cannot be installed (need root and apt-get): install it and rerun" >&2
		exit 1
	fi
fi

# free_port prints a free loopback TCP port in [20000, 50000): a Redis
# Cluster node also listens on port+10000 (its bus), which must be free and
# below 65536, and Redis refuses ports above 55535 in cluster mode.
free_port() {
	python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 30000))
import random, socket
for _ in range(200):
    p = random.randrange(20000, 50000)
    ok = True
    for q in (p, p + 10000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break
PY
}

start_redis() { # port dir [extra args...]
	local port=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
		--daemonize no --logfile "$dir/redis.log" "$@" &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 1 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			break # it exited: no point waiting
		fi
		sleep 0.1
	done
	echo "redis-server on port $port ($dir) did not start; its log:" >&2
	cat "$dir/redis.log" >&2
	exit 1
}

echo "== starting throwaway Redis"
single=$(free_port)
start_redis "$single" "$work/single"
export DISPATCH_TEST_REDIS_URL="redis://127.0.0.1:$single/0"

echo "== starting a throwaway three-master Redis Cluster"
cluster_ports=()
for i in 1 2 3; do
	p=$(free_port)
	while [ "$p" = "$single" ] || printf '%s\n' "${cluster_ports[@]:-}" | grep -qx "$p" ||
		printf '%s\n' "${cluster_ports[@]:-}" | grep -qx "$((p + 10000))"; do p=$(free_port); done
	cluster_ports+=("$p")
	start_redis "$p" "$work/cluster$i" --cluster-enabled yes --cluster-config-file "$work/cluster$i/nodes.conf" --cluster-node-timeout 5000
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") --cluster-replicas 0 --cluster-yes >"$work/cluster-create.log" 2>&1 ||
	{ cat "$work/cluster-create.log" >&2; exit 1; }
for _ in $(seq 1 100); do
	redis-cli -p "${cluster_ports[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
	sleep 0.1
done
export DISPATCH_TEST_REDIS_CLUSTER=$(printf '127.0.0.1:%s,' "${cluster_ports[@]}" | sed 's/,$//')
echo "   single: $DISPATCH_TEST_REDIS_URL  cluster: $DISPATCH_TEST_REDIS_CLUSTER"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on: $unformatted" >&2
	exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

echo "== fuzz targets, $FUZZTIME each"
FUZZTIME=$FUZZTIME ./scripts/fuzz.sh
echo "== all tests passed"
