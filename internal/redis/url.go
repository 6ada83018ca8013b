package redis

import (
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// NewClient makes a go-redis client for url:
//
//	redis://[user:pass@]host:port[/db][?options]      a single server
//	rediss://...                                      the same over TLS
//	unix://[user:pass@]/path/to/redis.sock[?db=N]     a Unix socket
//	redis-cluster://[user:pass@]h1:p1,h2:p2[?options] Redis Cluster (seed nodes)
//	rediss-cluster://...                              Redis Cluster over TLS
//	redis-sentinel://[user:pass@]master@h1:p1,h2:p2[/db][?options]
//	rediss-sentinel://...                             Sentinel, TLS to the master
//
// The options are go-redis's URL query parameters (dial_timeout,
// pool_size, ...). Every client honours its callers' context deadlines
// (ContextTimeoutEnabled), so a hung server cannot hold a request, a probe
// or a timer past its deadline. For Sentinel, user:pass authenticate to the Sentinels
// and ?password= (and ?username=) to the master, as in go-redis.
func NewClient(url string) (goredis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return nil, fmt.Errorf("redis: url %q: missing scheme", redact(url))
	}
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := goredis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis: url %q: %w", redact(url), err)
		}
		o.ContextTimeoutEnabled = true
		return goredis.NewClient(o), nil
	case "redis-cluster", "rediss-cluster":
		u, err := multiHostURL(strings.TrimSuffix(scheme, "-cluster"), rest, "")
		if err != nil {
			return nil, fmt.Errorf("redis: url %q: %w", redact(url), err)
		}
		o, err := goredis.ParseClusterURL(u)
		if err != nil {
			return nil, fmt.Errorf("redis: url %q: %w", redact(url), err)
		}
		o.ContextTimeoutEnabled = true
		return goredis.NewClusterClient(o), nil
	case "redis-sentinel", "rediss-sentinel":
		authority, _, _ := strings.Cut(rest, "/")
		authority, _, _ = strings.Cut(authority, "?")
		at := strings.LastIndexByte(authority, '@')
		if at < 0 {
			return nil, fmt.Errorf("redis: url %q: want %s://master@host:port,...", redact(url), scheme)
		}
		creds, master, hasCreds := strings.Cut(authority[:at], "@")
		if !hasCreds {
			creds, master = "", creds
		} else {
			creds += "@"
		}
		if master == "" {
			return nil, fmt.Errorf("redis: url %q: empty master name", redact(url))
		}
		u, err := multiHostURL(strings.TrimSuffix(scheme, "-sentinel"), creds+rest[at+1:], master)
		if err != nil {
			return nil, fmt.Errorf("redis: url %q: %w", redact(url), err)
		}
		o, err := goredis.ParseFailoverURL(u)
		if err != nil {
			return nil, fmt.Errorf("redis: url %q: %w", redact(url), err)
		}
		o.ContextTimeoutEnabled = true
		return goredis.NewFailoverClient(o), nil
	}
	return nil, fmt.Errorf("redis: url %q: unsupported scheme %q", redact(url), scheme)
}

// multiHostURL rewrites "[creds@]h1:p1,h2:p2[/path][?query]" into go-redis's
// form "scheme://[creds@]h1:p1[/path]?addr=h2:p2&...&query", adding
// master_name when set.
func multiHostURL(scheme, rest, master string) (string, error) {
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	creds := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		creds, authority = authority[:at+1], authority[at+1:]
	}
	hosts := strings.Split(authority, ",")
	for _, h := range hosts {
		if h == "" {
			return "", fmt.Errorf("empty host in %q", authority)
		}
	}
	path, query, _ := strings.Cut(tail, "?")
	var params []string
	for _, h := range hosts[1:] {
		params = append(params, "addr="+h)
	}
	if master != "" {
		params = append(params, "master_name="+master)
	}
	if query != "" {
		params = append(params, query)
	}
	u := scheme + "://" + creds + hosts[0] + path
	if len(params) > 0 {
		u += "?" + strings.Join(params, "&")
	}
	return u, nil
}

// redact hides the password of a URL in error messages.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	at := strings.LastIndexByte(rest, '@')
	colon := strings.IndexByte(rest, ':')
	if at < 0 || colon < 0 || colon > at {
		return url
	}
	// Only the part between the first ':' and the '@' that ends the
	// credentials is secret; a Sentinel URL has a second '@' (the master).
	credEnd := strings.IndexByte(rest, '@')
	if colon > credEnd {
		return url
	}
	return scheme + "://" + rest[:colon+1] + "xxxxx" + rest[credEnd:]
}
