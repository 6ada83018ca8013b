// Package jsonobj holds the two JSON rules of the wire contract that
// encoding/json does not enforce by itself: member names are matched
// exactly (encoding/json matches struct fields case-insensitively, so an
// unknown "LAT" would be read as "lat"), and a name may appear only once
// in an object (encoding/json keeps the last value, while other parsers
// keep the first: a parser differential).
package jsonobj

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Object is a decoded JSON object: its members by exact name.
type Object map[string]json.RawMessage

// Pick returns the JSON object holding the members of o named exactly
// one of names, for decoding into a struct: members spelt otherwise ("LAT"
// for "lat") are left out, as unknown members are.
func (o Object) Pick(names ...string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, name := range names {
		raw, ok := o[name]
		if !ok {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(strconv.Quote(name)) // the names are ASCII identifiers
		b.WriteByte(':')
		b.Write(raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// FirstDuplicate returns the path (as in "pickup.lat" or "points[2].ts")
// of the first member name that appears twice in one object of the JSON
// document b, at any depth. It reports false when there is none, and for
// a document that is not valid JSON (which the caller refuses anyway).
func FirstDuplicate(b []byte) (string, bool) {
	if !json.Valid(b) { // walk stops at the first duplicate, before any later syntax error
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dup, found, err := walk(dec, "")
	if err != nil {
		return "", false
	}
	return dup, found
}

// walk reads one value from dec and looks for a duplicated name in it.
func walk(dec *json.Decoder, path string) (string, bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	switch tok {
	case json.Delim('{'):
		seen := make(map[string]struct{})
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", false, err
			}
			key, _ := kt.(string)
			p := key
			if path != "" {
				p = path + "." + key
			}
			if _, ok := seen[key]; ok {
				return p, true, nil
			}
			seen[key] = struct{}{}
			if dup, found, err := walk(dec, p); found || err != nil {
				return dup, found, err
			}
		}
		_, err = dec.Token() // '}'
		return "", false, err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, found, err := walk(dec, path+"["+strconv.Itoa(i)+"]"); found || err != nil {
				return dup, found, err
			}
		}
		_, err = dec.Token() // ']'
		return "", false, err
	}
	return "", false, nil
}
