package realtime

import (
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/ridehail/dispatch/dispatch"
)

// fastDecode decodes the frames that carry the ingest load, location and
// locations, without reflection and without allocating (but for the
// optional fields of a fix, an id, and points beyond cap(buf)): the points
// of a batch are appended to buf[:0].
//
// It only ever answers for valid frames. Whenever it meets anything it
// does not handle itself — another type, a malformed or out-of-range
// value, an escaped or non-ASCII key, a key it does not know (the general
// decoder ignores those, but checks them for duplicates), a duplicated
// key, a frame that fails validation — it reports ok == false and the caller
// falls back to the general decoder, which also phrases the error. So the
// two decoders agree on every input (FuzzFastDecode checks it).
func fastDecode(b []byte, buf []dispatch.Fix) (m DriverMessage, ok bool) {
	s := fastScanner{b: b}
	if !s.eat('{') {
		return m, false
	}
	var typ, id []byte
	haveType := false
	w := newWireFix()
	pointsOK := false
	pts := buf[:0]
	var seen uint16 // keys met so far, by bit
	if s.eat('}') {
		return m, false // no type
	}
	for {
		key, ok := s.plainString()
		if !ok {
			return m, false
		}
		k, ok := keyOf(key)
		if !ok || k == keyUnknown || seen&(1<<k) != 0 || !s.eat(':') {
			// Unknown members are ignored but must not be duplicated,
			// and a duplicated member is an error: the general decoder
			// checks both.
			return m, false
		}
		seen |= 1 << k
		switch k {
		case keyType, keyID:
			v, ok := s.plainString()
			if !ok {
				return m, false // not a string, or escaped: the general decoder knows
			}
			if k == keyType {
				typ, haveType = v, true
			} else {
				id = v
			}
		case keyLat, keyLon, keyTS, keyHeading, keySpeed, keyAccuracy:
			if s.fixField(&w, k) != fieldOK {
				// Not a number: an error for location, ignored for
				// locations, but may hold a duplicated key; the general
				// decoder knows.
				return m, false
			}
		case keyPoints:
			if pts, pointsOK = s.points(pts[:0]); !pointsOK {
				return m, false // not a valid batch: see above
			}
		default:
			if !s.skipValue(0) {
				return m, false
			}
		}
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			break
		}
		return m, false
	}
	if s.skipWS(); s.i != len(b) {
		return m, false // trailing data
	}
	if !haveType || len(id) > MaxIDLen || !utf8.Valid(id) {
		return m, false
	}
	switch string(typ) {
	case TypeLocation:
		f, err := w.fix("")
		if err != nil {
			return m, false
		}
		m.Type, m.Fix = TypeLocation, f
	case TypeLocations:
		if !pointsOK {
			return m, false
		}
		m.Type, m.Points = TypeLocations, pts
	default:
		return m, false
	}
	if len(id) > 0 {
		m.ID = string(id)
	}
	return m, true
}

// Keys known to fastDecode.
const (
	keyUnknown = iota
	keyType
	keyID
	keyLat
	keyLon
	keyTS
	keyHeading
	keySpeed
	keyAccuracy
	keyPoints
)

var knownKeys = [...]string{
	keyType: "type", keyID: "id", keyLat: "lat", keyLon: "lon", keyTS: "ts",
	keyHeading: "heading", keySpeed: "speed", keyAccuracy: "accuracy", keyPoints: "points",
}

// keyOf identifies a key. It reports false for a key that encoding/json
// might match to a known one although it is not spelt the same: one with
// non-ASCII bytes (Unicode case folding) or differing only in ASCII case.
func keyOf(k []byte) (int, bool) {
	for i := 1; i < len(knownKeys); i++ {
		if string(k) == knownKeys[i] {
			return i, true
		}
	}
	for _, c := range k {
		if c >= utf8.RuneSelf {
			return 0, false
		}
	}
	for i := 1; i < len(knownKeys); i++ {
		if equalFoldASCII(k, knownKeys[i]) {
			return 0, false
		}
	}
	return keyUnknown, true
}

func equalFoldASCII(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// fastScanner reads JSON from b at i.
type fastScanner struct {
	b []byte
	i int
}

// maxFastDepth bounds the nesting skipValue follows; deeper frames go to
// the general decoder.
const maxFastDepth = 32

func (s *fastScanner) skipWS() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *fastScanner) peek() byte {
	s.skipWS()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// eat consumes c (after white space) if it comes next.
func (s *fastScanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// plainString reads a string holding no escape and returns its bytes. It
// reports false for anything else, escapes included.
func (s *fastScanner) plainString() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// skipString skips a string, escapes included; s.b[s.i] is its quote.
func (s *fastScanner) skipString() bool {
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 6
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
}

// number reads a number (JSON grammar) and returns its text; s.b[s.i] is
// its first byte.
func (s *fastScanner) number() ([]byte, bool) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return nil, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return nil, false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

// digits consumes one or more digits.
func (s *fastScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *fastScanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// skipValue skips one valid JSON value.
func (s *fastScanner) skipValue(depth int) bool {
	if depth > maxFastDepth {
		return false
	}
	switch s.peek() {
	case '"':
		return s.skipString()
	case '{':
		s.i++
		if s.eat('}') {
			return true
		}
		for {
			if s.peek() != '"' || !s.skipString() || !s.eat(':') || !s.skipValue(depth+1) {
				return false
			}
			if s.eat(',') {
				continue
			}
			return s.eat('}')
		}
	case '[':
		s.i++
		if s.eat(']') {
			return true
		}
		for {
			if !s.skipValue(depth + 1) {
				return false
			}
			if s.eat(',') {
				continue
			}
			return s.eat(']')
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case 0:
		return false
	}
	_, ok := s.number()
	return ok
}

// Outcomes of fixField.
const (
	fieldOK        = iota
	fieldWrongType // valid JSON that encoding/json would refuse for the field
	fieldBadJSON   // not valid JSON
)

// fixField reads the value of fix field k into w as encoding/json would:
// null leaves the field as it is; a number must parse (an integer for
// ts).
func (s *fastScanner) fixField(w *wireFix, k int) int {
	switch c := s.peek(); {
	case c == 'n':
		if !s.literal("null") {
			return fieldBadJSON
		}
		return fieldOK
	case c == '-' || ('0' <= c && c <= '9'):
		lit, ok := s.number()
		if !ok {
			return fieldBadJSON
		}
		// The string does not outlive the call (a parse error, which
		// would keep it, is dropped), so it may share lit's bytes.
		str := unsafe.String(unsafe.SliceData(lit), len(lit))
		if k == keyTS {
			v, err := strconv.ParseInt(str, 10, 64)
			if err != nil {
				return fieldWrongType
			}
			w.TS = v
			return fieldOK
		}
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return fieldWrongType
		}
		switch k {
		case keyLat:
			w.Lat = v
		case keyLon:
			w.Lon = v
		case keyHeading:
			w.Heading = v
		case keySpeed:
			w.Speed = v
		case keyAccuracy:
			w.Accuracy = v
		}
		return fieldOK
	}
	if !s.skipValue(0) {
		return fieldBadJSON
	}
	return fieldWrongType
}

// points reads a locations batch (an array of 1 to MaxBatchPoints valid
// fix objects) into pts. It reports false for anything else; s.i is then
// undefined.
func (s *fastScanner) points(pts []dispatch.Fix) ([]dispatch.Fix, bool) {
	if !s.eat('[') || s.eat(']') {
		return pts, false
	}
	for {
		if len(pts) == MaxBatchPoints || !s.eat('{') {
			return pts, false
		}
		w := newWireFix()
		var seen uint16
		if !s.eat('}') {
			for {
				key, ok := s.plainString()
				if !ok {
					return pts, false
				}
				k, ok := keyOf(key)
				if !ok || seen&(1<<k) != 0 || !s.eat(':') {
					return pts, false
				}
				seen |= 1 << k
				switch k {
				case keyLat, keyLon, keyTS, keyHeading, keySpeed, keyAccuracy:
					if s.fixField(&w, k) != fieldOK {
						return pts, false
					}
				default: // anything else is unknown in a point: see fastDecode
					return pts, false
				}
				if s.eat(',') {
					continue
				}
				if s.eat('}') {
					break
				}
				return pts, false
			}
		}
		f, err := w.fix("")
		if err != nil {
			return pts, false
		}
		pts = append(pts, f)
		if s.eat(',') {
			continue
		}
		return pts, s.eat(']')
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
