package trace

import (
	"fmt"
	"slices"

	"github.com/ridehail/dispatch/geo"
)

// Orders of CleanOptions.Order.
const (
	OrderSort = "sort" // stable-sort each vehicle by time, keep the first of equal times
	OrderDrop = "drop" // keep input order, drop fixes not later than the last kept one
)

// Defaults of CleanOptions.
const (
	DefaultMaxSpeedKmh = 200
	DefaultReanchor    = 3
)

// CleanOptions configures Clean. The zero value is the default policy.
type CleanOptions struct {
	// MaxSpeedKmh is the fastest plausible speed between two fixes;
	// 0 means DefaultMaxSpeedKmh, a negative value disables the teleport
	// filter.
	MaxSpeedKmh float64
	// Order is OrderSort (the default when "") or OrderDrop.
	Order string
	// Reanchor is the least number of mutually consistent fixes that may
	// replace a shorter kept chain they disagree with (see the package
	// doc); 0 means DefaultReanchor.
	Reanchor int
}

// Clean applies the cleaning policy of the package doc to each vehicle's
// fixes. The result is grouped by vehicle (sorted by id), each vehicle's
// fixes in strictly increasing time. The input is not modified.
func Clean(fixes []Fix, opt CleanOptions) ([]Fix, Stats) {
	st := Stats{Records: len(fixes)}
	out := make([]Fix, 0, len(fixes))
	for _, v := range Group(fixes) {
		out = cleanVehicle(v.Fixes, opt, &st, out)
	}
	st.Kept = len(out)
	return out, st
}

// cleanVehicle cleans one vehicle's fixes (owned by the caller, may be
// reordered) and appends the result to out.
func cleanVehicle(fixes []Fix, opt CleanOptions, st *Stats, out []Fix) []Fix {
	valid := fixes[:0]
	for _, f := range fixes {
		if checkPoint(f.P, st) {
			valid = append(valid, f)
		}
	}
	ordered := orderFixes(valid, opt.Order, st)
	return dropTeleports(ordered, opt, st, out)
}

// orderFixes makes times strictly increasing by the chosen policy, in place.
func orderFixes(fixes []Fix, order string, st *Stats) []Fix {
	if len(fixes) > 0 {
		latest := fixes[0].T
		for _, f := range fixes[1:] {
			if f.T.Before(latest) {
				st.Unsorted++
			} else {
				latest = f.T
			}
		}
	}
	if order == OrderDrop {
		kept := fixes[:0]
		for _, f := range fixes {
			if len(kept) > 0 {
				last := kept[len(kept)-1].T
				if f.T.Equal(last) {
					st.DuplicateTime++
					continue
				}
				if f.T.Before(last) {
					st.NonIncreasing++
					continue
				}
			}
			kept = append(kept, f)
		}
		return kept
	}
	slices.SortStableFunc(fixes, func(a, b Fix) int { return a.T.Compare(b.T) })
	kept := fixes[:0]
	for _, f := range fixes {
		if len(kept) > 0 && !f.T.After(kept[len(kept)-1].T) {
			st.DuplicateTime++
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// dropTeleports removes implausible jumps from time-ordered fixes by the
// anchor and re-anchor rule of the package doc, appending the kept fixes to
// out.
func dropTeleports(fixes []Fix, opt CleanOptions, st *Stats, out []Fix) []Fix {
	maxKmh := opt.MaxSpeedKmh
	if maxKmh == 0 {
		maxKmh = DefaultMaxSpeedKmh
	}
	if maxKmh < 0 {
		return append(out, fixes...)
	}
	reanchor := opt.Reanchor
	if reanchor <= 0 {
		reanchor = DefaultReanchor
	}
	maxMps := maxKmh / 3.6
	plausible := func(a, b Fix) bool {
		return geo.Distance(a.P, b.P) <= maxMps*b.T.Sub(a.T).Seconds()
	}
	base := len(out) // out[base:] is this vehicle's kept chain
	var pending []Fix
	for _, f := range fixes {
		kept := len(out) - base
		if kept == 0 {
			out = append(out, f)
			continue
		}
		if plausible(out[len(out)-1], f) {
			st.Teleport += len(pending)
			pending = pending[:0]
			out = append(out, f)
			continue
		}
		if len(pending) > 0 && !plausible(pending[len(pending)-1], f) {
			st.Teleport += len(pending)
			pending = pending[:0]
		}
		pending = append(pending, f)
		if len(pending) >= reanchor && len(pending) > kept {
			st.Teleport += kept
			out = append(out[:base], pending...)
			pending = pending[:0]
		}
	}
	if kept := len(out) - base; len(pending) > kept {
		st.Teleport += kept
		out = append(out[:base], pending...)
	} else {
		st.Teleport += len(pending)
	}
	return out
}

// Validate reports an unknown Order or a NaN speed limit.
func (o CleanOptions) Validate() error {
	switch o.Order {
	case "", OrderSort, OrderDrop:
	default:
		return fmt.Errorf("%w: unknown order %q (want %q or %q)", ErrFormat, o.Order, OrderSort, OrderDrop)
	}
	if o.MaxSpeedKmh != o.MaxSpeedKmh {
		return fmt.Errorf("%w: max speed is NaN", ErrFormat)
	}
	return nil
}
