package trace

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxUnixSeconds bounds epoch times to the years before 10000.
const maxUnixSeconds = 253402300799

var errTime = errors.New("unparsable time")

// timeParser parses one configured time format.
type timeParser struct {
	format string // lower-cased keyword, or the Go layout
	loc    *time.Location
}

func newTimeParser(format string, loc *time.Location) timeParser {
	if loc == nil {
		loc = time.UTC
	}
	switch lf := strings.ToLower(format); lf {
	case "", TimeUnix:
		return timeParser{format: TimeUnix, loc: loc}
	case TimeUnixMs, TimeRFC3339:
		return timeParser{format: lf, loc: loc}
	}
	return timeParser{format: format, loc: loc}
}

func (p timeParser) parse(s string) (time.Time, error) {
	switch p.format {
	case TimeUnix:
		return parseEpoch(s, 1)
	case TimeUnixMs:
		return parseEpoch(s, 1000)
	case TimeRFC3339:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %q is not RFC 3339", errTime, s)
		}
		return t, nil
	}
	t, err := time.ParseInLocation(p.format, s, p.loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q does not match %q", errTime, s, p.format)
	}
	return t, nil
}

// parseEpoch parses a decimal count of 1/perSecond seconds since the epoch,
// with an optional sign, fraction and exponent. It never goes through a
// float for plain decimals, so whole seconds and milliseconds are exact.
func parseEpoch(s string, perSecond int64) (time.Time, error) {
	if strings.ContainsAny(s, "eE") {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.Abs(v) > float64(maxUnixSeconds*perSecond) {
			return time.Time{}, fmt.Errorf("%w: %q", errTime, s)
		}
		sec := v / float64(perSecond)
		whole := math.Floor(sec)
		return time.Unix(int64(whole), int64((sec-whole)*1e9)), nil
	}
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if (intPart == "" && frac == "") || !allDigits(intPart) || !allDigits(frac) || (hasDot && frac == "" && intPart == "") {
		return time.Time{}, fmt.Errorf("%w: %q", errTime, s)
	}
	var whole int64
	if intPart != "" {
		if len(intPart) > 18 {
			return time.Time{}, fmt.Errorf("%w: %q out of range", errTime, s)
		}
		n, err := strconv.ParseInt(intPart, 10, 64)
		if err != nil || n > maxUnixSeconds*perSecond {
			return time.Time{}, fmt.Errorf("%w: %q out of range", errTime, s)
		}
		whole = n
	}
	nsPerUnit := int64(1e9) / perSecond
	digits := 0 // significant fraction digits: 9 for seconds, 6 for ms
	for n := nsPerUnit; n > 1; n /= 10 {
		digits++
	}
	if len(frac) > digits {
		frac = frac[:digits]
	}
	var fracNs int64
	if frac != "" {
		n, _ := strconv.ParseInt(frac+strings.Repeat("0", digits-len(frac)), 10, 64)
		fracNs = n
	}
	sec := whole / perSecond
	nsec := (whole%perSecond)*nsPerUnit + fracNs
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
