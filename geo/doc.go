// Package geo holds points, great-circle distance and an exact in-memory
// spatial index of moving objects keyed by geohash cells.
//
// # Concurrency
//
// Point, Distance and the other functions are pure and safe for concurrent
// use. An *Index is safe for concurrent use by any number of goroutines:
// many ingest goroutines may call Upsert and Remove while others call
// Nearest, Count, Get, Len and Sweep. Every method is linearizable except
// Sweep, which scans under a read lock and then removes in small batches
// under the write lock, re-checking each entry, so it never holds the write
// lock for long and never removes an entry that was refreshed meanwhile.
//
// Internally the index is guarded by one sync.RWMutex: writers (Upsert,
// Remove, the removal phase of Sweep) take it exclusively, readers share it.
// Query.Filter is called while the read lock is held, so a Filter must be
// fast and must not call back into the same Index (a recursive read lock
// deadlocks as soon as a writer is waiting). It may take its own, unrelated
// locks.
//
// # Exactness
//
// Nearest and Count return exactly what a brute-force scan computing
// Distance for every entry would return, including ties (ordered by ID),
// at the poles, across the antimeridian and on cell edges. The search walks
// cells outward from the centre and stops only when a conservative lower
// bound on the distance to every unvisited cell exceeds the radius or the
// K-th hit; see search.go.
package geo
