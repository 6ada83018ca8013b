package pricing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	"github.com/ridehail/dispatch/geo"
)

// quoteVersion is the payload layout version; bump it (and keep verifying the
// old one for a TTL) when the payload changes.
const quoteVersion = 1

// maxQuoteIDLen bounds the quote ids VerifyQuote looks at; genuine ids are
// about 250 bytes.
const maxQuoteIDLen = 1024

// quoteKeyLabel separates the quote key from any other use of the secret
// (JWT signing may share it): a token of another kind never verifies here.
const quoteKeyLabel = "ridehail/dispatch pricing quote v1"

// quotePayload is the signed content of a quote id. Keys are short to keep
// ids small; surge is in percent, distance in whole metres, duration in whole
// seconds, expiry in Unix milliseconds.
type quotePayload struct {
	V         int       `json:"v"`
	Region    string    `json:"r"`
	Pickup    geo.Point `json:"p"`
	Dropoff   geo.Point `json:"d"`
	Fare      int64     `json:"f"`
	Currency  string    `json:"c"`
	SurgePct  int64     `json:"s"`
	DistanceM int64     `json:"m"`
	DurationS int64     `json:"t"`
	ExpiresAt int64     `json:"e"`
}

// quoteSigner signs and opens quote ids. It is safe for concurrent use.
type quoteSigner struct {
	macs sync.Pool // of hash.Hash keyed with the derived quote key
}

func newQuoteSigner(secret []byte) *quoteSigner {
	k := hmac.New(sha256.New, secret)
	k.Write([]byte(quoteKeyLabel))
	key := k.Sum(nil)
	return &quoteSigner{macs: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

func (s *quoteSigner) mac(dst, payload []byte) []byte {
	h := s.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(payload)
	dst = h.Sum(dst)
	s.macs.Put(h)
	return dst
}

// sign returns base64url(payload) + "." + base64url(mac).
func (s *quoteSigner) sign(p quotePayload) (string, error) {
	payload, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode quote: %w", err)
	}
	var sum [sha256.Size]byte
	mac := s.mac(sum[:0], payload)
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(len(mac)))
	buf := make([]byte, enc.EncodedLen(len(payload)))
	enc.Encode(buf, payload)
	b.Write(buf)
	b.WriteByte('.')
	buf = buf[:enc.EncodedLen(len(mac))]
	enc.Encode(buf, mac)
	b.Write(buf)
	return b.String(), nil
}

// open checks the signature of id in constant time and decodes its payload.
// It does not check expiry. Errors wrap ErrQuoteInvalid.
func (s *quoteSigner) open(id string) (quotePayload, error) {
	if len(id) > maxQuoteIDLen {
		return quotePayload{}, fmt.Errorf("%w: id longer than %d bytes", ErrQuoteInvalid, maxQuoteIDLen)
	}
	p64, m64, ok := strings.Cut(id, ".")
	if !ok || p64 == "" || strings.Contains(m64, ".") {
		return quotePayload{}, fmt.Errorf("%w: want <payload>.<mac>", ErrQuoteInvalid)
	}
	enc := base64.RawURLEncoding
	payload, err := enc.DecodeString(p64)
	if err != nil {
		return quotePayload{}, fmt.Errorf("%w: payload encoding: %w", ErrQuoteInvalid, err)
	}
	got, err := enc.DecodeString(m64)
	if err != nil || len(got) != sha256.Size {
		return quotePayload{}, fmt.Errorf("%w: malformed mac", ErrQuoteInvalid)
	}
	var sum [sha256.Size]byte
	if !hmac.Equal(got, s.mac(sum[:0], payload)) {
		return quotePayload{}, fmt.Errorf("%w: signature mismatch", ErrQuoteInvalid)
	}
	p, err := decodeQuotePayload(payload)
	if err != nil {
		return quotePayload{}, fmt.Errorf("%w: %v", ErrQuoteInvalid, err)
	}
	return p, nil
}

// decodeQuotePayload strictly decodes and checks a payload. It only ever
// sees authenticated bytes, but stays defensive (fuzzed).
func decodeQuotePayload(b []byte) (quotePayload, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p quotePayload
	if err := dec.Decode(&p); err != nil {
		return quotePayload{}, fmt.Errorf("payload: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return quotePayload{}, errors.New("payload: trailing data")
	}
	if p.V != quoteVersion {
		return quotePayload{}, fmt.Errorf("payload: unsupported version %d", p.V)
	}
	if err := validRegionName(p.Region); err != nil {
		return quotePayload{}, fmt.Errorf("payload: region: %w", err)
	}
	if err := p.Pickup.Validate(); err != nil {
		return quotePayload{}, fmt.Errorf("payload: pickup: %w", err)
	}
	if err := p.Dropoff.Validate(); err != nil {
		return quotePayload{}, fmt.Errorf("payload: dropoff: %w", err)
	}
	if _, err := MinorDigits(p.Currency); err != nil {
		return quotePayload{}, fmt.Errorf("payload: %w", err)
	}
	if p.Fare < 0 || p.SurgePct < 100 || p.SurgePct > maxSurge*100 || p.DistanceM < 0 || p.DurationS < 0 || p.ExpiresAt <= 0 {
		return quotePayload{}, errors.New("payload: figure out of range")
	}
	return p, nil
}
