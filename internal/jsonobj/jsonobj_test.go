package jsonobj

import (
	"encoding/json"
	"testing"
)

func TestFirstDuplicate(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want string // "" for none
	}{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":1,"A":2}`, ""}, // names are exact: A is another member
		{`{"p":{"lat":1,"lat":2}}`, "p.lat"},
		{`{"points":[{"ts":1},{"ts":2,"lat":3,"ts":4}]}`, "points[1].ts"},
		{`{"x":[[{"k":1,"k":1}]]}`, "x[0][0].k"},
		{`{"l\u0061t":1,"lat":2}`, "lat"}, // escapes name the same member
		{`[1,{"a":{}},"s"]`, ""},
		{`{"a":1,`, ""}, // not JSON: not reported here
		{`{"q":null,"q":null}`, "q"},
		{`{"0":1,"0"`, ""}, // duplicate before the syntax error: still not JSON
	} {
		got, ok := FirstDuplicate([]byte(tc.doc))
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("FirstDuplicate(%s) = %q, %v; want %q", tc.doc, got, ok, tc.want)
		}
	}
}

func TestPickIsExact(t *testing.T) {
	var o Object
	if err := json.Unmarshal([]byte(`{"lat":1.5,"LAT":95,"Lon":3,"ts":7,"x":{"y":1}}`), &o); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Lat float64 `json:"lat"`
		Lon float64 `json:"lon"`
		TS  int64   `json:"ts"`
	}
	if err := json.Unmarshal(o.Pick("lat", "lon", "ts"), &v); err != nil {
		t.Fatal(err)
	}
	if v.Lat != 1.5 || v.Lon != 0 || v.TS != 7 {
		t.Errorf("picked %+v, want lat 1.5, lon 0 (Lon is not lon), ts 7", v)
	}
	if got := string(o.Pick()); got != "{}" {
		t.Errorf("Pick() = %s, want {}", got)
	}
}

func FuzzFirstDuplicate(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"p":{"x":[{"k":1,"k":2}]}}`, `[]`, `{`, `"s"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		path, ok := FirstDuplicate(b)
		if !ok {
			if path != "" {
				t.Fatalf("no duplicate but path %q", path)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("duplicate %q reported in invalid JSON", path)
		}
	})
}
