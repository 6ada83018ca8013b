// Package realtime is the WebSocket layer of the dispatch engine: driver and
// rider connections, the wire messages they exchange, and the fan-out of
// engine events to them (see docs/protocol-realtime.md for the contract).
//
// # Pieces
//
//   - Hub holds the live connections in sharded maps and implements
//     dispatch.Notifier. Events go through a Broker (an in-memory loopback
//     by default; a Redis one for clusters lives in internal/redis), so a
//     node delivers to its own sockets whatever any node published.
//   - DriverHandler and RiderHandler authenticate and authorise a request
//     before upgrading it, then run the connection.
//   - DecodeDriverMessage validates a driver frame strictly.
//   - Client is a small WebSocket client for the simulator and tests.
//
// # Concurrency
//
// Every exported method of Hub, MemoryBroker and Client is safe for
// concurrent use. An idle connection has exactly one goroutine, its
// reader, which waits for the next frame with a minimal stack (2 KB, or 4
// KB when the runtime's adaptive initial stack size says so). Each frame is
// read and handled (decoded, passed to the Dispatcher, answered) on a
// worker goroutine from a pool grown on demand, while the reader waits, so
// the frames of a connection are handled one at a time and in order and
// the deep calls never grow the reader's stack. A connection's writer
// goroutine runs only while there is something to write, and is the only
// one to write to the socket (but for gorilla's own close frame on an
// oversized frame); one hub-wide pinger pings every connection each
// PingPeriod. Between the handlers and the writer sits a queue: enqueueing
// never blocks, and a full queue disconnects the client as a slow
// consumer.
//
// Lock order (a lock may only be taken while holding locks above it):
//
//  0. a driver's session lock (Hub.lockSession), held across the
//     DriverConnected and DriverDisconnected calls of that driver only
//  1. Hub.mu (lifecycle state; Open holds it while subscribing)
//  2. MemoryBroker.mu (read-locked while delivering)
//  3. a Hub shard lock (driver or ride shard; never two at once), or
//     Hub.liveMu (the set of all connections; never with a shard lock)
//  4. a connection's mu (its queue and close state)
//
// Apart from the session lock, the Dispatcher is never called with any of
// these locks held.
package realtime
