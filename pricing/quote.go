package pricing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
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
	n := enc.EncodedLen(len(payload))
	buf := make([]byte, n+1+enc.EncodedLen(len(mac)))
	enc.Encode(buf, payload)
	buf[n] = '.'
	enc.Encode(buf[n+1:], mac)
	return string(buf), nil
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

// decodeQuotePayload decodes a payload and checks every field. It only ever
// sees authenticated bytes (the MAC is checked first), so it does not spend
// time rejecting unknown keys, but it still validates ranges and is fuzzed.
func decodeQuotePayload(b []byte) (quotePayload, error) {
	var p quotePayload
	if err := json.Unmarshal(b, &p); err != nil {
		return quotePayload{}, fmt.Errorf("payload: %w", err)
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
