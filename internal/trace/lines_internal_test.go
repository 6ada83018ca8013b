package trace

import (
	"slices"
	"testing"
	"time"
)

func TestSplitFields(t *testing.T) {
	comma, _ := delimiter(",")
	semi, _ := delimiter(";")
	space, _ := delimiter("space")
	tab, _ := delimiter("tab")
	for _, tc := range []struct {
		line string
		d    delim
		want []string
		ok   bool
	}{
		{"a,b,c", comma, []string{"a", "b", "c"}, true},
		{" a , b ,c ", comma, []string{"a", "b", "c"}, true},
		{"a,,c,", comma, []string{"a", "", "c", ""}, true},
		{`"a,b",c`, comma, []string{"a,b", "c"}, true},
		{`"say ""hi""",x`, comma, []string{`say "hi"`, "x"}, true},
		{`"[[1,2],[3,4]]"`, comma, []string{"[[1,2],[3,4]]"}, true},
		{` "a" ,b`, comma, []string{"a", "b"}, true},
		{`"a"x,b`, comma, nil, false},
		{`"a,b`, comma, nil, false},
		{"1;2,5;3", semi, []string{"1", "2,5", "3"}, true},
		{"  37.1   -122.4 1\t12 ", space, []string{"37.1", "-122.4", "1", "12"}, true},
		{"a\t\tc", tab, []string{"a", "", "c"}, true},
	} {
		got, ok := splitFields(tc.line, tc.d, nil)
		if ok != tc.ok || (ok && !slices.Equal(got, tc.want)) {
			t.Errorf("splitFields(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseEpoch(t *testing.T) {
	for _, tc := range []struct {
		s    string
		per  int64
		want time.Time
		ok   bool
	}{
		{"1211033530", 1, time.Unix(1211033530, 0), true},
		{"1211033530.123456789123", 1, time.Unix(1211033530, 123456789), true},
		{"+5", 1, time.Unix(5, 0), true},
		{"-1.5", 1, time.Unix(-2, 5e8), true},
		{".5", 1, time.Unix(0, 5e8), true},
		{"5.", 1, time.Unix(5, 0), true},
		{"1401235201500", 1000, time.UnixMilli(1401235201500), true},
		{"1401235201500.25", 1000, time.Unix(1401235201, 500250000), true},
		{"1.4012352015e12", 1000, time.UnixMilli(1401235201500), true},
		{"", 1, time.Time{}, false},
		{".", 1, time.Time{}, false},
		{"1e400", 1, time.Time{}, false},
		{"NaN", 1, time.Time{}, false},
		{"12a", 1, time.Time{}, false},
		{"1.2.3", 1, time.Time{}, false},
		{"253402300800", 1, time.Time{}, false},
	} {
		got, err := parseEpoch(tc.s, tc.per)
		if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
			t.Errorf("parseEpoch(%q, %d) = %v, %v; want %v ok=%v", tc.s, tc.per, got, err, tc.want, tc.ok)
		}
	}
}

func TestParsePolyline(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want [][2]float64
		ok   bool
	}{
		{"[]", nil, true},
		{" [ ] ", nil, true},
		{"[[1,2]]", [][2]float64{{1, 2}}, true},
		{"[[-8.618643,41.141412],[-8.618499, 41.141376]]", [][2]float64{{-8.618643, 41.141412}, {-8.618499, 41.141376}}, true},
		{"[[1,2,3]]", nil, false},
		{"[[1]]", nil, false},
		{"[[1,2],]", nil, false},
		{"[[1,2]] x", nil, false},
		{"[[1,2]", nil, false},
		{"", nil, false},
		{"[[a,b]]", nil, false},
	} {
		got, err := parsePolyline(tc.s, nil)
		if (err == nil) != tc.ok || (tc.ok && !slices.Equal(got, tc.want)) {
			t.Errorf("parsePolyline(%q) = %v, %v; want %v ok=%v", tc.s, got, err, tc.want, tc.ok)
		}
	}
}
