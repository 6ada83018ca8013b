package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/jsonobj"
)

// Limits applied by DecodeDriverMessage.
const (
	// MaxIDLen is the longest offer_id, ride_id or id accepted.
	MaxIDLen = 128
	// MaxBatchPoints is the largest locations batch accepted.
	MaxBatchPoints = 500
	// maxRefLen bounds the ref echoed back from an unknown type or id.
	maxRefLen = 64
)

// DriverMessage is a decoded, validated driver frame. Type says which of
// the other fields are set.
type DriverMessage struct {
	// Type is one of TypeLocation … TypeCancel.
	Type string
	// ID is the optional client-chosen "id" of the frame, echoed as the
	// ref of the reply.
	ID string
	// Fix is the position of a location message.
	Fix dispatch.Fix
	// Points are the valid fixes of a locations batch, in the order
	// received.
	Points []dispatch.Fix
	// Rejected counts the batch's points that were well-formed JSON objects
	// but not valid fixes (a coordinate out of range, a missing ts...), and
	// RejectReason says why the first of them was: a bad point is dropped
	// alone, not with the whole batch.
	Rejected     int
	RejectReason string
	// Status is the requested status of a status message.
	Status dispatch.DriverStatus
	// OfferID is set for accept and decline.
	OfferID string
	// RideID is set for arrived, start, complete and cancel.
	RideID string
	// DistanceM is complete's optional driven distance (0 when absent).
	DistanceM float64
}

// Ref returns what a reply to m refers to: its id if it had one, else its
// type.
func (m DriverMessage) Ref() string {
	if m.ID != "" {
		return m.ID
	}
	return m.Type
}

// DecodeError is returned by DecodeDriverMessage for a frame that is not a
// valid driver message. Its code on the wire is invalid_argument.
type DecodeError struct {
	// Ref is the frame's id, else its type, else empty.
	Ref string
	// Message says what is wrong, in terms of the wire fields.
	Message string
}

func (e *DecodeError) Error() string { return "invalid frame: " + e.Message }

// DecodeDriverMessage parses and validates one driver frame: a JSON object
// with a "type" field and that type's fields (see the protocol document).
// Unknown fields are ignored; missing required fields, wrong JSON types,
// unknown types and out-of-range values are errors. The error is always a
// *DecodeError. It never panics, whatever the input.
func DecodeDriverMessage(b []byte) (DriverMessage, error) {
	return decodeDriverMessage(b, nil)
}

// decodeDriverMessage is DecodeDriverMessage appending the points of a
// batch to buf[:0]. The location frames take the fast path; everything
// else, and every invalid frame, the general one.
func decodeDriverMessage(b []byte, buf []dispatch.Fix) (DriverMessage, error) {
	if m, ok := fastDecode(b, buf); ok {
		return m, nil
	}
	return decodeGeneral(b)
}

// decodeGeneral decodes any frame with encoding/json and phrases the
// errors.
func decodeGeneral(b []byte) (DriverMessage, error) {
	var m DriverMessage
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		if !json.Valid(b) {
			return m, &DecodeError{Message: "frame is not valid JSON"}
		}
		return m, &DecodeError{Message: "frame must be a JSON object"}
	}
	// Members are matched by exact name: decode the object, then only the
	// contract's names are picked from it for each struct.
	var o jsonobj.Object
	if err := json.Unmarshal(b, &o); err != nil {
		return m, &DecodeError{Message: jsonErrorMessage(err)}
	}
	var head struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	if err := json.Unmarshal(o.Pick("type", "id"), &head); err != nil {
		// Keep what could be read for the ref, report the field.
		return m, &DecodeError{Ref: refOf(head.ID, head.Type), Message: jsonErrorMessage(err)}
	}
	m.Type, m.ID = head.Type, head.ID
	ref := refOf(m.ID, m.Type)
	fail := func(format string, args ...any) (DriverMessage, error) {
		return DriverMessage{Type: m.Type, ID: m.ID}, &DecodeError{Ref: ref, Message: fmt.Sprintf(format, args...)}
	}
	if dup, ok := jsonobj.FirstDuplicate(b); ok {
		return fail("duplicate field %q", truncate(dup, maxRefLen))
	}
	if m.Type == "" {
		return fail("type is required")
	}
	if len(m.ID) > MaxIDLen {
		return fail("id must be at most %d bytes", MaxIDLen)
	}
	var err error
	switch m.Type {
	case TypeLocation:
		m.Fix, err = decodeFix(o, "")
	case TypeLocations:
		m.Points, m.Rejected, m.RejectReason, err = decodePoints(o, "points")
	case TypeStatus:
		var v struct {
			Status string `json:"status"`
		}
		if err = unmarshal(o.Pick("status"), &v); err == nil {
			switch dispatch.DriverStatus(v.Status) {
			case dispatch.DriverAvailable, dispatch.DriverOffline:
				m.Status = dispatch.DriverStatus(v.Status)
			case "":
				err = errors.New("status is required")
			default:
				err = errors.New(`status must be "available" or "offline"`)
			}
		}
	case TypeAccept, TypeDecline:
		var v struct {
			OfferID string `json:"offer_id"`
		}
		if err = unmarshal(o.Pick("offer_id"), &v); err == nil {
			m.OfferID, err = v.OfferID, checkID("offer_id", v.OfferID)
		}
	case TypeArrived, TypeStart, TypeCancel, TypeComplete:
		v := struct {
			RideID    string  `json:"ride_id"`
			DistanceM float64 `json:"distance_m"`
		}{DistanceM: math.NaN()} // NaN: absent (JSON cannot encode NaN)
		if err = unmarshal(o.Pick("ride_id", "distance_m"), &v); err == nil {
			m.RideID, err = v.RideID, checkID("ride_id", v.RideID)
		}
		if err == nil && !math.IsNaN(v.DistanceM) {
			switch {
			case m.Type != TypeComplete:
				// distance_m means nothing here; ignore it like any unknown field.
			case math.IsInf(v.DistanceM, 0) || v.DistanceM < 0 || v.DistanceM > 1e7:
				err = errors.New("distance_m must be within [0, 10000000]")
			default:
				m.DistanceM = v.DistanceM
			}
		}
		if _, ok := o["path"]; ok && err == nil && m.Type == TypeComplete {
			// The trip's GPS path (DESIGN §3): its length is the driven
			// distance unless distance_m says otherwise. Invalid points
			// are left out, as in a locations batch.
			var path []dispatch.Fix
			if path, _, _, err = decodePoints(o, "path"); err == nil && math.IsNaN(v.DistanceM) {
				m.DistanceM = dispatch.PathDistance(path, dispatch.DefaultMaxSpeedKmh)
			}
		}
	default:
		return fail("unknown message type %q", truncate(m.Type, maxRefLen))
	}
	if err != nil {
		return fail("%s", err.Error())
	}
	return m, nil
}

// wireFix is a fix as received. Lat, Lon and the optional fields start as
// NaN and TS as math.MinInt64, which JSON cannot produce (or which fail
// validation anyway), so that an absent field is told from a zero one
// without allocating pointers.
type wireFix struct {
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	TS       int64   `json:"ts"`
	Heading  float64 `json:"heading"`
	Speed    float64 `json:"speed"`
	Accuracy float64 `json:"accuracy"`
}

func newWireFix() wireFix {
	nan := math.NaN()
	return wireFix{Lat: nan, Lon: nan, TS: math.MinInt64, Heading: nan, Speed: nan, Accuracy: nan}
}

// decodeFix decodes and validates a fix; prefix names it in messages
// ("points[3].").
func decodeFix(o jsonobj.Object, prefix string) (dispatch.Fix, error) {
	w := newWireFix()
	if err := unmarshal(o.Pick("lat", "lon", "ts", "heading", "speed", "accuracy"), &w); err != nil {
		return dispatch.Fix{}, err
	}
	return w.fix(prefix)
}

func (w wireFix) fix(prefix string) (dispatch.Fix, error) {
	switch {
	case math.IsNaN(w.Lat):
		return dispatch.Fix{}, fmt.Errorf("%slat is required", prefix)
	case math.IsNaN(w.Lon):
		return dispatch.Fix{}, fmt.Errorf("%slon is required", prefix)
	case w.TS == math.MinInt64:
		return dispatch.Fix{}, fmt.Errorf("%sts is required", prefix)
	case w.TS <= 0:
		return dispatch.Fix{}, fmt.Errorf("%sts must be a positive Unix time in milliseconds", prefix)
	}
	if err := (geo.Point{Lat: w.Lat, Lon: w.Lon}).Validate(); err != nil {
		return dispatch.Fix{}, fmt.Errorf("%s%s", prefix, strings.TrimPrefix(err.Error(), geo.ErrInvalidPoint.Error()+": "))
	}
	f := dispatch.Fix{Lat: w.Lat, Lon: w.Lon, TS: w.TS}
	var err error
	if f.Heading, err = optional(prefix, "heading", w.Heading, 0, 360); err != nil {
		return dispatch.Fix{}, err
	}
	if f.Speed, err = optional(prefix, "speed", w.Speed, 0, 1000); err != nil {
		return dispatch.Fix{}, err
	}
	if f.Accuracy, err = optional(prefix, "accuracy", w.Accuracy, 0, 1e6); err != nil {
		return dispatch.Fix{}, err
	}
	return f, nil
}

// optional returns nil for an absent (NaN) value, else a pointer to v after
// checking it lies within [lo, hi]; prefix and name name it.
func optional(prefix, name string, v, lo, hi float64) (*float64, error) {
	if math.IsNaN(v) {
		return nil, nil
	}
	if math.IsInf(v, 0) || v < lo || v > hi {
		return nil, fmt.Errorf("%s%s must be within [%g, %g]", prefix, name, lo, hi)
	}
	p := new(float64) // not &v: that would move v to the heap on every call
	*p = v
	return p, nil
}

// decodePoints decodes the list of fixes in member name (a locations
// batch's points, a complete's path). The list fails as a whole only when
// its shape is wrong (missing, empty, too long, or an element not an
// object); a point that is an object but not a valid fix is left out and
// counted in rejected, with the first such point's reason.
func decodePoints(o jsonobj.Object, name string) (out []dispatch.Fix, rejected int, reason string, err error) {
	var v struct{ Points []json.RawMessage }
	if raw, ok := o[name]; ok {
		if err := json.Unmarshal(raw, &v.Points); err != nil {
			return nil, 0, "", fmt.Errorf("%s must be an array", name)
		}
	}
	switch {
	case v.Points == nil:
		return nil, 0, "", fmt.Errorf("%s is required", name)
	case len(v.Points) == 0:
		return nil, 0, "", fmt.Errorf("%s must not be empty", name)
	case len(v.Points) > MaxBatchPoints:
		return nil, 0, "", fmt.Errorf("%s must hold at most %d fixes", name, MaxBatchPoints)
	}
	out = make([]dispatch.Fix, 0, len(v.Points))
	for i, raw := range v.Points {
		t := bytes.TrimLeft(raw, " \t\r\n")
		if len(t) == 0 || t[0] != '{' {
			return nil, 0, "", fmt.Errorf("%s[%d] must be an object", name, i)
		}
		var p jsonobj.Object
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, 0, "", fmt.Errorf("%s[%d] must be an object", name, i)
		}
		f, err := decodeFix(p, fmt.Sprintf("%s[%d].", name, i))
		if err != nil {
			if rejected == 0 {
				reason = err.Error()
			}
			rejected++
			continue
		}
		out = append(out, f)
	}
	return out, rejected, reason, nil
}

func checkID(name, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is required", name)
	case len(v) > MaxIDLen:
		return fmt.Errorf("%s must be at most %d bytes", name, MaxIDLen)
	}
	return nil
}

// unmarshal decodes b into v and turns encoding/json errors into messages
// that name wire fields, not Go types.
func unmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New(jsonErrorMessage(err))
	}
	return nil
}

func jsonErrorMessage(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return "frame must be a JSON object"
		}
		if strings.HasPrefix(te.Value, "number") && isNumberKind(te.Type) {
			if k := te.Type.Kind(); k == reflect.Float32 || k == reflect.Float64 {
				return fmt.Sprintf("%s is out of range", field)
			}
			return fmt.Sprintf("%s must be an integer within range", field)
		}
		return fmt.Sprintf("%s must be %s", field, kindName(te.Type))
	case errors.As(err, &se):
		return "frame is not valid JSON"
	}
	return "frame is not valid JSON"
}

func isNumberKind(t reflect.Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	}
	return "of another type"
}

func refOf(id, typ string) string {
	if id != "" {
		return truncate(id, MaxIDLen) // a valid id is echoed whole
	}
	return truncate(typ, maxRefLen)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
