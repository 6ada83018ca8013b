package trace

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
)

// Open opens a trace or trip file for reading, decompressing it on the fly
// when its name ends in .gz or .bz2 (real datasets are often shipped so).
// It also returns the name without that suffix, the one that names the
// vehicle (new_abboip.txt.gz is vehicle abboip).
func Open(name string) (io.ReadCloser, string, error) {
	file, err := os.Open(name)
	if err != nil {
		return nil, name, err
	}
	plain := PlainName(name)
	switch {
	case strings.HasSuffix(name, ".gz"):
		zr, err := gzip.NewReader(bufio.NewReader(file))
		if err != nil {
			file.Close()
			return nil, plain, fmt.Errorf("%s: %w", name, err)
		}
		return readCloser{zr, func() error { zr.Close(); return file.Close() }}, plain, nil
	case strings.HasSuffix(name, ".bz2"):
		return readCloser{bzip2.NewReader(bufio.NewReader(file)), file.Close}, plain, nil
	}
	return file, plain, nil
}

// PlainName is name without a .gz or .bz2 suffix.
func PlainName(name string) string {
	for _, ext := range []string{".gz", ".bz2"} {
		if s, ok := strings.CutSuffix(name, ext); ok {
			return s
		}
	}
	return name
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
