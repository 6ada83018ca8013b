package realtime

import (
	"errors"
	"math"
	"testing"

	"github.com/ridehail/dispatch/geo"
)

// FuzzDecodeDriverMessage checks that no input panics and that whatever is
// accepted is valid: a known type with its required fields in range.
// The seed corpus is in testdata/fuzz/FuzzDecodeDriverMessage.
func FuzzDecodeDriverMessage(f *testing.F) {
	f.Add([]byte(`{"type":"location","lat":37.7749,"lon":-122.4194,"ts":1700000000000}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeDriverMessage(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if len(de.Ref) > maxRefLen {
				t.Fatalf("ref of %d bytes", len(de.Ref))
			}
			return
		}
		if len(m.ID) > MaxIDLen {
			t.Fatalf("id of %d bytes accepted", len(m.ID))
		}
		switch m.Type {
		case TypeLocation:
			checkFix(t, m.Fix.Lat, m.Fix.Lon, m.Fix.TS)
		case TypeLocations:
			if n := len(m.Points) + m.Rejected; n == 0 || n > MaxBatchPoints || (m.Rejected > 0) != (m.RejectReason != "") {
				t.Fatalf("%d points accepted, %d rejected (%q)", len(m.Points), m.Rejected, m.RejectReason)
			}
			for _, p := range m.Points {
				checkFix(t, p.Lat, p.Lon, p.TS)
			}
		case TypeStatus:
			if m.Status != "available" && m.Status != "offline" {
				t.Fatalf("status %q accepted", m.Status)
			}
		case TypeAccept, TypeDecline:
			if m.OfferID == "" || len(m.OfferID) > MaxIDLen {
				t.Fatalf("offer_id %q accepted", m.OfferID)
			}
		case TypeArrived, TypeStart, TypeComplete, TypeCancel:
			if m.RideID == "" || len(m.RideID) > MaxIDLen {
				t.Fatalf("ride_id %q accepted", m.RideID)
			}
			if m.DistanceM < 0 || math.IsNaN(m.DistanceM) || math.IsInf(m.DistanceM, 0) {
				t.Fatalf("distance %v accepted", m.DistanceM)
			}
		default:
			t.Fatalf("type %q accepted", m.Type)
		}
	})
}

func checkFix(t *testing.T, lat, lon float64, ts int64) {
	t.Helper()
	if err := (geo.Point{Lat: lat, Lon: lon}).Validate(); err != nil || ts <= 0 {
		t.Fatalf("fix %v,%v@%d accepted (%v)", lat, lon, ts, err)
	}
}
