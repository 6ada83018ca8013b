package trace_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ridehail/dispatch/internal/trace"
)

func excerptBytes(b *testing.B) []byte {
	b.Helper()
	files, err := filepath.Glob("../../testdata/cabspotting/new_*.txt")
	if err != nil || len(files) == 0 {
		b.Fatalf("excerpt: %v", err)
	}
	var all []byte
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, data...)
	}
	return all
}

func BenchmarkReadFixesCabspotting(b *testing.B) {
	data := excerptBytes(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := trace.ReadFixes(bytes.NewReader(data), "new_bench.txt", cabspotting); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCleanAndDerive(b *testing.B) {
	vs, _, err := trace.ReadFiles(b.Context(), []string{"../../testdata/cabspotting"}, cabspotting)
	if err != nil {
		b.Fatal(err)
	}
	fixes := trace.Flatten(vs)
	b.ReportAllocs()
	for b.Loop() {
		cleaned, _ := trace.Clean(fixes, trace.CleanOptions{})
		trace.DeriveTrips(cleaned, trace.TripOptions{})
	}
	b.ReportMetric(float64(len(fixes)), "fixes/op")
}
