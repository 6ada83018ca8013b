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

// parsePointField parses one field holding two coordinates: "POINT(a b)"
// (WKT; the keyword is case-insensitive), "a b", "a,b", "(a, b)" or
// "[a, b]", with blanks allowed around each part.
func parsePointField(s string) (a, b float64, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 5 && strings.EqualFold(s[:5], "POINT") {
		s = strings.TrimSpace(s[5:])
		if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
			return 0, 0, false
		}
	}
	if len(s) >= 2 && (s[0] == '(' && s[len(s)-1] == ')' || s[0] == '[' && s[len(s)-1] == ']') {
		s = s[1 : len(s)-1]
	}
	x, y, found := strings.Cut(s, ",")
	if !found {
		f := strings.Fields(s)
		if len(f) != 2 {
			return 0, 0, false
		}
		x, y = f[0], f[1]
	}
	a, err1 := strconv.ParseFloat(strings.TrimSpace(x), 64)
	b, err2 := strconv.ParseFloat(strings.TrimSpace(y), 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return a, b, true
}
