package trace

import (
	"errors"
	"strconv"
	"strings"
)

var errPolyline = errors.New("malformed polyline")

// parsePolyline parses "[[a,b],[c,d],...]" (white space allowed anywhere)
// into coordinate pairs, appending to pairs. Each pair must have exactly two
// numbers.
func parsePolyline(s string, pairs [][2]float64) ([][2]float64, error) {
	p := polyParser{s: s}
	if !p.eat('[') {
		return pairs, errPolyline
	}
	if p.eat(']') {
		return pairs, p.end()
	}
	for {
		if !p.eat('[') {
			return pairs, errPolyline
		}
		a, ok := p.number()
		if !ok || !p.eat(',') {
			return pairs, errPolyline
		}
		b, ok := p.number()
		if !ok || !p.eat(']') {
			return pairs, errPolyline
		}
		pairs = append(pairs, [2]float64{a, b})
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return pairs, p.end()
		}
		return pairs, errPolyline
	}
}

type polyParser struct {
	s string
	i int
}

func (p *polyParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *polyParser) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *polyParser) end() error {
	p.skip()
	if p.i != len(p.s) {
		return errPolyline
	}
	return nil
}

func (p *polyParser) number() (float64, bool) {
	p.skip()
	j := p.i
	for j < len(p.s) && strings.IndexByte("+-.0123456789eEnNaAiIfFtTyY", p.s[j]) >= 0 {
		j++
	}
	if j == p.i {
		return 0, false
	}
	v, err := strconv.ParseFloat(p.s[p.i:j], 64)
	if err != nil {
		return 0, false
	}
	p.i = j
	return v, true
}
