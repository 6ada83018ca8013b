package trace

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

var bom = []byte{0xEF, 0xBB, 0xBF}

// lineReader yields the lines of a stream without their line ending (LF or
// CRLF), the byte order mark stripped from the first line. Lines longer than
// max are consumed and reported as too long.
type lineReader struct {
	br    *bufio.Reader
	max   int
	buf   []byte
	first bool
}

func newLineReader(r io.Reader, max int) *lineReader {
	if max <= 0 {
		max = DefaultMaxLineBytes
	}
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10), max: max, first: true}
}

// next returns the next line (valid until the following call), whether it
// was longer than the limit, and io.EOF after the last line.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	l.buf = l.buf[:0]
	got := false
	for {
		chunk, err := l.br.ReadSlice('\n')
		if len(chunk) > 0 {
			got = true
			if !tooLong && len(l.buf)+len(chunk) <= l.max+2 { // +2: room for the CRLF
				l.buf = append(l.buf, chunk...)
			} else {
				tooLong = true
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if !got {
				return nil, false, io.EOF
			}
		default:
			return nil, false, err
		}
		break
	}
	line = bytes.TrimSuffix(l.buf, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if l.first {
		l.first = false
		line = bytes.TrimPrefix(line, bom)
	}
	if len(line) > l.max {
		tooLong = true
	}
	return line, tooLong, nil
}

// isBlank reports whether a line holds nothing but white space.
func isBlank(line []byte) bool {
	return len(bytes.TrimSpace(line)) == 0
}

// splitFields splits a line by d. Unquoted fields are trimmed of white
// space; a field that starts with a double quote runs to the matching quote,
// with "" standing for one quote. ok is false for an unclosed quote or text
// after a closing quote.
func splitFields(line string, d delim, fields []string) ([]string, bool) {
	fields = fields[:0]
	if d.space {
		for i := 0; i < len(line); {
			for i < len(line) && isSpace(line[i]) {
				i++
			}
			j := i
			for j < len(line) && !isSpace(line[j]) {
				j++
			}
			if j > i {
				fields = append(fields, line[i:j])
			}
			i = j
		}
		return fields, true
	}
	dl := utf8.RuneLen(d.r)
	i := 0
	for {
		j := i
		for j < len(line) && (line[j] == ' ' || line[j] == '\t') && rune(line[j]) != d.r {
			j++
		}
		if j < len(line) && line[j] == '"' {
			val, k, ok := quoted(line, j+1)
			if !ok {
				return fields, false
			}
			for k < len(line) && (line[k] == ' ' || line[k] == '\t') && rune(line[k]) != d.r {
				k++
			}
			fields = append(fields, val)
			if k == len(line) {
				return fields, true
			}
			r, n := utf8.DecodeRuneInString(line[k:])
			if r != d.r {
				return fields, false
			}
			i = k + n
			continue
		}
		idx := strings.IndexRune(line[i:], d.r)
		if idx < 0 {
			return append(fields, strings.TrimSpace(line[i:])), true
		}
		fields = append(fields, strings.TrimSpace(line[i:i+idx]))
		i += idx + dl
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' }

// quoted reads a quoted field whose opening quote precedes line[start]. It
// returns the value and the index just after the closing quote.
func quoted(line string, start int) (string, int, bool) {
	var b strings.Builder
	k := start
	for {
		idx := strings.IndexByte(line[k:], '"')
		if idx < 0 {
			return "", 0, false
		}
		if k+idx+1 < len(line) && line[k+idx+1] == '"' {
			b.WriteString(line[k : k+idx+1])
			k += idx + 2
			continue
		}
		if b.Len() == 0 {
			return line[k : k+idx], k + idx + 1, true
		}
		b.WriteString(line[k : k+idx])
		return b.String(), k + idx + 1, true
	}
}

// table reads delimited rows, counting blank and malformed lines in st.
type table struct {
	lr     *lineReader
	d      delim
	st     *Stats
	fields []string
	line   int // 1-based number of the last line read
}

func newTable(r io.Reader, d delim, maxLine int, st *Stats) *table {
	return &table{lr: newLineReader(r, maxLine), d: d, st: st}
}

// header reads the first non-blank line as column names. It returns nil
// names at the end of the input. Blank lines before it count as Blank rows.
func (t *table) header() ([]string, error) {
	for {
		line, tooLong, err := t.lr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			return nil, err
		}
		t.line++
		if !tooLong && isBlank(line) {
			t.st.Rows++
			t.st.Blank++
			continue
		}
		fs, _ := splitFields(string(line), t.d, nil)
		if tooLong {
			fs = nil
		}
		if fs == nil {
			fs = []string{}
		}
		return fs, nil
	}
}

// next returns the fields of the next non-blank, splittable row (valid until
// the following call), or io.EOF.
func (t *table) next() ([]string, error) {
	for {
		line, tooLong, err := t.lr.next()
		if err != nil {
			return nil, err
		}
		t.line++
		t.st.Rows++
		if tooLong {
			t.st.Malformed++
			continue
		}
		if isBlank(line) {
			t.st.Blank++
			continue
		}
		fs, ok := splitFields(string(line), t.d, t.fields)
		t.fields = fs
		if !ok {
			t.st.Malformed++
			continue
		}
		return fs, nil
	}
}
