package realtime

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ridehail/dispatch/dispatch"
)

// fastSeeds are frames for the differential test: the common ones the
// fast path must take, and the corner cases where it must either agree
// with encoding/json or step aside.
var fastSeeds = []string{
	`{"type":"location","lat":37.7749,"lon":-122.4194,"ts":1700000000000}`,
	`{"type":"location","lat":37.7749,"lon":-122.4194,"ts":1700000000000,"heading":90,"speed":11.2,"accuracy":5,"id":"f-1"}`,
	` {"lat":37.7749, "lon" : -122.4194 ,"ts":1700000000000, "type":"location"} `,
	`{"type":"locations","points":[{"lat":37.7749,"lon":-122.4194,"ts":1700000000000},{"lat":37.775,"lon":-122.4191,"ts":1700000004000,"speed":3}]}`,
	`{"type":"location","lat":1,"lon":2,"ts":3,"heading":null}`,
	`{"type":"locations","points":[{"lat":1,"lon":2,"ts":3,"type":"x","extra":{"a":[1,2,{"b":null}]}}],"lat":"ignored"}`,
	`{"type":"location","lat":1,"lon":2,"ts":3,"points":"ignored"}`,
	`{"type":"location","lat":1,"lon":2,"ts":3,"x":[true,false,null,"a\"b\\c\u00e9\n",-0.5e-3,{}]}`,
	`{"type":"location","lat":1,"lon":2,"ts":3,"type":"location"}`,
	`{"type":"location","lat":1,"lat":5,"lon":2,"ts":3}`,
	`{"type":"location","LAT":1,"lon":2,"ts":3}`,
	`{"type":"location","lat":1,"lon":2,"ts":1.5}`,
	`{"type":"location","lat":1,"lon":2,"ts":1e3}`,
	`{"type":"location","lat":1e999,"lon":2,"ts":3}`,
	`{"type":"location","lat":"1","lon":2,"ts":3}`,
	`{"type":"location","lat":01,"lon":2,"ts":3}`,
	`{"type":"location","lat":1,"lon":2,"ts":3}x`,
	`{"type":"location","lat":1,"lon":2,"ts":3,}`,
	`{"type":"location","lat":1,"lon":2}`,
	`{"type":"location","lat":0,"lon":0,"ts":3}`,
	`{"type":"location","lat":91,"lon":2,"ts":3}`,
	`{"type":"location","lat":1,"lon":2,"ts":-3}`,
	`{"type":"location","lat":1,"lon":2,"ts":3,"speed":-1}`,
	`{"type":"loc\u0061tion","lat":1,"lon":2,"ts":3}`,
	`{"typ\u0065":"location","lat":1,"lon":2,"ts":3}`,
	`{"type":"location","ſpeed":1,"lat":1,"lon":2,"ts":3}`,
	`{"type":"location","id":"\u00e9","lat":1,"lon":2,"ts":3}`,
	`{"type":"location","id":"` + "\xff" + `","lat":1,"lon":2,"ts":3}`,
	`{"type":"location","id":` + `"` + strings.Repeat("x", 129) + `","lat":1,"lon":2,"ts":3}`,
	`{"type":"location","id":7,"lat":1,"lon":2,"ts":3}`,
	`{"type":null,"lat":1,"lon":2,"ts":3}`,
	`{"type":"locations","points":[]}`,
	`{"type":"locations","points":null}`,
	`{"type":"locations","points":[null]}`,
	`{"type":"locations","points":[{"lat":1,"lon":2}]}`,
	`{"type":"locations","points":[{"lat":1,"lon":2,"ts":3}],"points":[{"lat":4,"lon":5,"ts":6}]}`,
	`{"type":"locations","points":[{"lat":1,"lon":2,"ts":3} {"lat":4,"lon":5,"ts":6}]}`,
	`{"type":"status","status":"available"}`,
	`{"type":"accept","offer_id":"o-1"}`,
	`{}`, `[]`, `null`, ``, `{"type":"location"`, `{"type":"location","lat":1,"lon":2,"ts":3,"x":"\x01"}`,
	`{"type":"location","lat":1,"lon":2,"ts":3,"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
}

// checkFastAgrees fails unless fastDecode either steps aside or returns
// exactly what the general decoder returns, without error.
func checkFastAgrees(t *testing.T, b []byte) (taken bool) {
	t.Helper()
	m, ok := fastDecode(b, nil)
	if !ok {
		return false
	}
	want, err := decodeGeneral(b)
	if err != nil {
		t.Fatalf("%q: fast path accepted %+v, general decoder refused: %v", b, m, err)
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("%q: fast path %+v, general decoder %+v", b, m, want)
	}
	return true
}

func TestFastDecode_AgreesWithGeneral(t *testing.T) {
	taken := 0
	for _, s := range fastSeeds {
		if checkFastAgrees(t, []byte(s)) {
			taken++
		}
	}
	// The common frames must actually take the fast path.
	for _, s := range fastSeeds[:5] {
		if _, ok := fastDecode([]byte(s), nil); !ok {
			t.Errorf("fast path refused %s", s)
		}
	}
	t.Logf("fast path took %d of %d seeds", taken, len(fastSeeds))
}

func TestFastDecode_Values(t *testing.T) {
	m, err := DecodeDriverMessage([]byte(`{"type":"locations","id":"b-1","points":[{"lat":37.7749,"lon":-122.4194,"ts":1700000000000,"heading":90},{"lat":-33.5,"lon":151.25,"ts":1700000004000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeLocations || m.ID != "b-1" || len(m.Points) != 2 {
		t.Fatalf("got %+v", m)
	}
	p0, p1 := m.Points[0], m.Points[1]
	if p0.Lat != 37.7749 || p0.Lon != -122.4194 || p0.TS != 1700000000000 || p0.Heading == nil || *p0.Heading != 90 || p0.Speed != nil {
		t.Fatalf("point 0: %+v", p0)
	}
	if p1.Lat != -33.5 || p1.Lon != 151.25 || p1.TS != 1700000004000 || p1.Heading != nil {
		t.Fatalf("point 1: %+v", p1)
	}
	// A batch with an invalid point goes to the general decoder, which
	// keeps the valid points and says why the other was rejected.
	m, err = DecodeDriverMessage([]byte(`{"type":"locations","points":[{"lat":1,"lon":2,"ts":3},{"lat":1,"lon":2}]}`))
	if err != nil || len(m.Points) != 1 || m.Points[0].TS != 3 || m.Rejected != 1 || m.RejectReason != "points[1].ts is required" {
		t.Fatalf("batch with a bad point: %+v, %v", m, err)
	}
}

func TestFastDecode_NoAllocs(t *testing.T) {
	loc := []byte(`{"type":"location","lat":37.7749,"lon":-122.4194,"ts":1700000000000}`)
	batch := []byte(`{"type":"locations","points":[{"lat":37.7749,"lon":-122.4194,"ts":1700000000000},{"lat":37.775,"lon":-122.4191,"ts":1700000004000}]}`)
	buf := make([]dispatch.Fix, 0, 8)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := decodeDriverMessage(loc, buf); err != nil {
			t.Fatal(err)
		}
		if _, err := decodeDriverMessage(batch, buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per location and batch frame", n)
	}
}

// FuzzFastDecode checks that the fast path never disagrees with the
// general decoder.
func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastAgrees(t, b)
	})
}

func BenchmarkDecodeLocation(b *testing.B) {
	loc := []byte(`{"type":"location","lat":37.7749,"lon":-122.4194,"ts":1700000000000}`)
	var sb strings.Builder
	sb.WriteString(`{"type":"locations","points":[`)
	for i := range 10 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"lat":37.774912,"lon":-122.419411,"ts":1700000000000}`)
	}
	sb.WriteString(`]}`)
	batch := []byte(sb.String())
	buf := make([]dispatch.Fix, 0, 16)
	for _, c := range []struct {
		name string
		b    []byte
		dec  func([]byte) (DriverMessage, error)
	}{
		{"location/fast", loc, func(b []byte) (DriverMessage, error) { return decodeDriverMessage(b, buf) }},
		{"location/general", loc, decodeGeneral},
		{"batch10/fast", batch, func(b []byte) (DriverMessage, error) { return decodeDriverMessage(b, buf) }},
		{"batch10/general", batch, decodeGeneral},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.b)))
			for b.Loop() {
				if _, err := c.dec(c.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
