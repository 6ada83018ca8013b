package pricing_test

import (
	"testing"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

func benchCalculator(b *testing.B) *pricing.Calculator {
	c := mustCalculator(b, loadTestdata(b), newTestClock())
	c.SetSupplyFunc(func(geo.Point, float64) int { return 5 })
	for i := 0; i < 20; i++ {
		c.RecordDemand(sfFerryBuilding)
	}
	return c
}

func BenchmarkQuote(b *testing.B) {
	c := benchCalculator(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Quote(sfFerryBuilding, sfMission); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyQuote(b *testing.B) {
	c := benchCalculator(b)
	q, err := c.Quote(sfFerryBuilding, sfMission)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.VerifyQuote(q.ID, sfFerryBuilding, sfMission); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEstimate(b *testing.B) {
	c := benchCalculator(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Estimate(sfFerryBuilding, sfMission); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordDemand(b *testing.B) {
	c := benchCalculator(b)
	b.ReportAllocs()
	for b.Loop() {
		c.RecordDemand(sfFerryBuilding)
	}
}

func BenchmarkQuoteParallel(b *testing.B) {
	c := benchCalculator(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Quote(sfFerryBuilding, sfMission); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
