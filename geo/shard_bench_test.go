package geo

import (
	"slices"
	"testing"
)

// shardedIndex is the alternative to Index's single RWMutex that
// docs/decisions-geo.md weighs: S independent indexes, ids spread by hash,
// so writers to different shards never contend, while every query must
// search all S shards and merge. It exists only to be measured.
type shardedIndex struct {
	shards []*Index
}

func newShardedIndex(s int) *shardedIndex {
	x := &shardedIndex{shards: make([]*Index, s)}
	for i := range x.shards {
		x.shards[i] = NewIndex()
	}
	return x
}

func (x *shardedIndex) shard(id string) *Index {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return x.shards[h%uint32(len(x.shards))]
}

func (x *shardedIndex) Upsert(id string, p Point, seen int64) error {
	return x.shard(id).Upsert(id, p, seen)
}

func (x *shardedIndex) Nearest(q Query, dst []Hit) []Hit {
	dst = dst[:0]
	var part []Hit
	for _, s := range x.shards {
		part = s.Nearest(q, part)
		dst = append(dst, part...)
	}
	slices.SortFunc(dst, hitCmp)
	if q.K > 0 && len(dst) > q.K {
		dst = dst[:q.K]
	}
	return dst
}

func TestShardedIndexMatchesIndex(t *testing.T) {
	ix, sx := NewIndex(), newShardedIndex(8)
	for i, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		p := Point{37.77 + float64(i)*1e-3, -122.42}
		mustUpsert(t, ix, id, p, 1)
		if err := sx.Upsert(id, p, 1); err != nil {
			t.Fatal(err)
		}
	}
	q := Query{Center: Point{37.775, -122.42}, Radius: 3000, K: 4}
	if a, b := ix.Nearest(q, nil), sx.Nearest(q, nil); !slices.Equal(a, b) {
		t.Fatalf("sharded %v != %v", b, a)
	}
}

var benchSharded = map[int]*shardedIndex{}

// shardedFleet returns the 100k fleet built into a sharded index (cached).
func shardedFleet(b *testing.B, shards int) (*benchFleet, *shardedIndex) {
	f := getBenchFleet(b, 100_000)
	benchMu.Lock()
	defer benchMu.Unlock()
	if sx := benchSharded[shards]; sx != nil {
		return f, sx
	}
	sx := newShardedIndex(shards)
	for i, id := range f.ids {
		if err := sx.Upsert(id, f.pts[i], 0); err != nil {
			b.Fatal(err)
		}
	}
	benchSharded[shards] = sx
	return f, sx
}

func BenchmarkShardedUpsertMoveParallel(b *testing.B) {
	f, sx := shardedFleet(b, 8)
	benchParallel(b, f, 0, sx.Upsert, sx.Nearest)
}

func BenchmarkShardedMixedParallel(b *testing.B) {
	f, sx := shardedFleet(b, 8)
	benchParallel(b, f, 11, sx.Upsert, sx.Nearest)
}

func BenchmarkShardedNearest10Within3km(b *testing.B) {
	f, sx := shardedFleet(b, 8)
	dst := make([]Hit, 0, 128)
	for i := 0; b.Loop(); i++ {
		dst = sx.Nearest(Query{Center: f.centers[i&1023], Radius: 3000, K: 10}, dst)
	}
}
