package realtime

import (
	"log/slog"
	"time"

	"golang.org/x/time/rate"
)

// HubConfig configures a Hub and the connections it runs. Zero fields get
// the defaults documented on each.
type HubConfig struct {
	// Broker carries messages between nodes. Default: a new MemoryBroker
	// (single node).
	Broker Broker
	// NodeID names this node in session notices. Default: random.
	NodeID string
	// Logger receives connection-level events. Default: discard.
	Logger *slog.Logger
	// Now is the clock used for token expiry. Default: time.Now.
	Now func() time.Time

	// QueueSize bounds each connection's outbound queue; a client whose
	// queue is full is closed with CloseSlowConsumer. Default 256.
	QueueSize int
	// PingPeriod is how often the server pings. Default 20 s.
	PingPeriod time.Duration
	// PongWait is how long the server waits for any frame (pong included)
	// before dropping the connection. Default 30 s; must exceed PingPeriod.
	PongWait time.Duration
	// WriteWait bounds each write to the socket. Default 10 s.
	WriteWait time.Duration
	// CloseGrace is how long the server waits for the peer's reply to its
	// close frame before dropping the socket. Default 2 s.
	CloseGrace time.Duration
	// ReadLimit is the largest frame accepted, in bytes; a larger one
	// closes with CloseTooBig. Default 4096.
	ReadLimit int64
	// FrameRate and FrameBurst limit the frames a client may send (every
	// frame costs one token; a locations batch costs one). Excess frames
	// are dropped with a rate_limited error. Defaults 20/s, burst 40.
	FrameRate  rate.Limit
	FrameBurst int
	// FloodLimit is the number of rate-limited frames in a row after which
	// the connection closes with ClosePolicyViolation. Default 200.
	FloodLimit int
	// CallTimeout bounds each Dispatcher call. Default 10 s.
	CallTimeout time.Duration
	// ShutdownTimeout bounds the Shutdown that Run performs. Default 10 s.
	ShutdownTimeout time.Duration
}

func (c HubConfig) withDefaults() HubConfig {
	if c.Broker == nil {
		c.Broker = NewMemoryBroker()
	}
	if c.NodeID == "" {
		c.NodeID = randomID()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
	if c.PingPeriod <= 0 {
		c.PingPeriod = 20 * time.Second
	}
	if c.PongWait <= 0 {
		c.PongWait = 30 * time.Second
	}
	if c.PongWait <= c.PingPeriod {
		c.PongWait = c.PingPeriod + c.PingPeriod/2
	}
	if c.WriteWait <= 0 {
		c.WriteWait = 10 * time.Second
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = 2 * time.Second
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 4096
	}
	if c.FrameRate <= 0 {
		c.FrameRate = 20
	}
	if c.FrameBurst <= 0 {
		c.FrameBurst = 40
	}
	if c.FloodLimit <= 0 {
		c.FloodLimit = 200
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	return c
}

// HandlerConfig configures DriverHandler and RiderHandler.
type HandlerConfig struct {
	// AllowedOrigins lists the browser origins ("https://app.example.com")
	// allowed besides the request's own host. Requests without an Origin
	// header (native apps) are always allowed. "*" allows any origin (for
	// development only).
	AllowedOrigins []string
}
