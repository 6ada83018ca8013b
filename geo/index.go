package geo

import (
	"fmt"
	"strings"
	"sync"
)

// Index is an in-memory spatial index of moving objects (drivers), each a
// string id with its latest position and the time of that fix. Entries live
// in fixed-size geohash cells; Upsert moves an id between cells in O(1).
// Index is safe for concurrent use; see the package documentation for the
// locking contract. The zero value is not usable: call NewIndex.
type Index struct {
	mu     sync.RWMutex
	grid   grid
	byID   map[string]entry
	blocks map[uint64]*block // by blockKey
	nCells int               // occupied cells
	free   []*block          // emptied blocks kept for reuse, so moves do not allocate
}

// entry locates an id. It is stored by value in byID and points straight
// at the item, so a move within a cell costs one map lookup and one write;
// attach and detach repoint it whenever an item changes address.
type entry struct {
	it  *item
	c   *cell
	idx int
}

// Cells are grouped in blocks of blockSide x blockSide, so a search that
// walks a strip of cells does one map lookup per block and reads the cell
// headers from one small array, instead of one map probe per cell.
const (
	blockBits = 2
	blockSide = 1 << blockBits
	blockMask = blockSide - 1
)

// block holds the cells of one blockSide x blockSide square of the grid.
type block struct {
	n     int // occupied cells
	cells [blockSide * blockSide]cell
}

// cell is one grid cell; items is unordered.
type cell struct {
	items []item
}

// item is an entry's data, stored inline in its cell so a search reads
// cells sequentially. cos caches cosLat(lat); key is the cell's cellKey.
type item struct {
	lat, lon, cos float64
	seen          int64
	key           uint64
	id            string
}

// blockOf returns the key of the block holding cell (r, c) and the cell's
// index within it.
func blockOf(r, c int64) (key uint64, i int) {
	return cellKey(r>>blockBits, c>>blockBits), int((r&blockMask)<<blockBits | c&blockMask)
}

// blockOfKey is blockOf for a cellKey.
func blockOfKey(k uint64) (key uint64, i int) { return blockOf(cellRowCol(k)) }

// maxFreeBlocks bounds the pool of emptied blocks kept for reuse.
const maxFreeBlocks = 1024

// sweepBatch is how many removals Sweep makes per write-lock hold.
const sweepBatch = 256

// NewIndex returns an empty index using geohash precision 7 cells.
func NewIndex() *Index { return newIndexGrid(defaultLatBits, defaultLonBits) }

// newIndexGrid returns an empty index on a grid of the given precision
// (tests use coarse grids to stress the search).
func newIndexGrid(latBits, lonBits uint) *Index {
	return &Index{
		grid:   newGrid(latBits, lonBits),
		byID:   make(map[string]entry),
		blocks: make(map[uint64]*block),
	}
}

// Upsert records that id was at p at seen (Unix milliseconds of the fix),
// inserting id or moving it, in O(1). The fix replaces the previous one
// unconditionally: callers that may deliver fixes out of order must drop
// older ones themselves. An invalid p is rejected with an error wrapping
// ErrInvalidPoint and leaves the index unchanged.
func (ix *Index) Upsert(id string, p Point, seen int64) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("geo: upsert %q: %w", id, err)
	}
	r, c := ix.grid.cellOf(p.Lat, p.Lon)
	key := cellKey(r, c)
	cs := cosLat(p.Lat)

	ix.mu.Lock()
	defer ix.mu.Unlock()
	e, ok := ix.byID[id]
	if ok {
		if it := e.it; it.key == key {
			it.lat, it.lon, it.cos, it.seen = p.Lat, p.Lon, cs, seen
			return nil
		}
		id = e.it.id // reuse the stored copy
		ix.detach(e)
	} else {
		id = strings.Clone(id) // do not pin the caller's buffer
	}
	ix.attach(item{lat: p.Lat, lon: p.Lon, cos: cs, seen: seen, key: key, id: id})
	return nil
}

// Remove forgets id and reports whether it was present.
func (ix *Index) Remove(id string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e, ok := ix.byID[id]
	if !ok {
		return false
	}
	ix.detach(e)
	delete(ix.byID, id)
	return true
}

// Get returns id's latest position and fix time.
func (ix *Index) Get(id string) (p Point, seen int64, ok bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e, ok := ix.byID[id]
	if !ok {
		return Point{}, 0, false
	}
	return Point{Lat: e.it.lat, Lon: e.it.lon}, e.it.seen, true
}

// Len returns the number of entries.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byID)
}

// Sweep removes every entry with Seen < before and returns their ids (nil
// when none). It finds candidates under the read lock, then removes them in
// batches under the write lock, skipping any entry refreshed or removed in
// between, so ingest is never blocked for a whole scan.
func (ix *Index) Sweep(before int64) []string {
	var stale []string
	ix.mu.RLock()
	for _, b := range ix.blocks {
		for ci := range b.cells {
			items := b.cells[ci].items
			for i := range items {
				if items[i].seen < before {
					stale = append(stale, items[i].id)
				}
			}
		}
	}
	ix.mu.RUnlock()

	removed := stale[:0]
	for len(stale) > 0 {
		n := min(len(stale), sweepBatch)
		ix.mu.Lock()
		for _, id := range stale[:n] {
			e, ok := ix.byID[id]
			if !ok || e.it.seen >= before {
				continue
			}
			ix.detach(e)
			delete(ix.byID, id)
			removed = append(removed, id)
		}
		ix.mu.Unlock()
		stale = stale[n:]
	}
	if len(removed) == 0 {
		return nil
	}
	return removed
}

// attach appends it to the cell it.key, creating the block if needed, and
// points it.id's entry at it. ix.mu must be held for writing.
func (ix *Index) attach(it item) {
	bk, ci := blockOfKey(it.key)
	b := ix.blocks[bk]
	if b == nil {
		if n := len(ix.free); n > 0 {
			b = ix.free[n-1]
			ix.free[n-1] = nil
			ix.free = ix.free[:n-1]
		} else {
			b = &block{}
		}
		ix.blocks[bk] = b
	}
	c := &b.cells[ci]
	if len(c.items) == 0 {
		b.n++
		ix.nCells++
	}
	if len(c.items) < cap(c.items) {
		c.items = append(c.items, it)
		i := len(c.items) - 1
		ix.byID[it.id] = entry{it: &c.items[i], c: c, idx: i}
		return
	}
	// The array moves: repoint every entry of the cell.
	c.items = append(c.items, it)
	for i := range c.items {
		ix.byID[c.items[i].id] = entry{it: &c.items[i], c: c, idx: i}
	}
}

// detach removes e's item from its cell (the last item fills the hole),
// dropping the block when it empties. It does not touch e's own map entry.
// ix.mu must be held for writing.
func (ix *Index) detach(e entry) {
	c, key := e.c, e.it.key
	last := len(c.items) - 1
	if e.idx != last {
		c.items[e.idx] = c.items[last]
		ix.byID[c.items[e.idx].id] = entry{it: &c.items[e.idx], c: c, idx: e.idx}
	}
	c.items[last] = item{} // release the id for the GC
	c.items = c.items[:last]
	if last > 0 {
		return
	}
	ix.nCells--
	bk, _ := blockOfKey(key)
	b := ix.blocks[bk]
	if b.n--; b.n == 0 {
		delete(ix.blocks, bk)
		if len(ix.free) < maxFreeBlocks {
			ix.free = append(ix.free, b)
		}
	}
}
