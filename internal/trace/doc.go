// Package trace reads real vehicle GPS traces and trip records from
// delimited text files, cleans them by a fixed, documented policy that
// counts every fault it removes, and derives trips and online segments from
// the cleaned traces. It is the input side of the ridesim simulator.
//
// Nothing here knows a particular dataset: a Format (fix files) or a
// TripFormat (trip files) says which layout, delimiter, columns, coordinate
// order and time format a file uses, and the CLI flags map onto those fields
// one to one.
//
// # Reading
//
// ReadFixes and ReadTrips read one stream line by line; ReadFiles and Open
// decompress .gz and .bz2 files as they read them. A UTF-8 byte order
// mark and CRLF line endings are accepted. With Header set the first
// non-blank line names the columns, and columns may then be given by name as
// well as by 0-based index. A quoted field ("...", with "" for a quote) may
// hold the delimiter, as Porto-style POLYLINE columns do; a quoted field may
// not span lines. Coordinates come from a latitude and a longitude column, a
// single point column (Format.PointCol: "POINT(lat lon)" as in the Rome taxi
// traces, "lat lon", "lat,lon", "[lat, lon]", or lon first with LonLat) or,
// in the polyline layout, a list of pairs. A row that cannot be used is counted by reason and skipped,
// never fatal: blank lines (Blank), a wrong number of fields, an unparsable
// number, time or occupancy flag, an unclosed quote or a line longer than
// Format.MaxLineBytes (Malformed), NaN or Inf coordinates (NonFinite),
// latitude outside [-90, 90] or longitude outside [-180, 180] (OutOfRange),
// and the exact point (0, 0) that trackers emit before their first satellite
// lock (ZeroZero). Only a configuration error (an unknown column name, an
// invalid Format) or a failing reader is returned as an error.
//
// # Cleaning
//
// Clean works on each vehicle separately and applies, in order:
//
//  1. Validity: the same coordinate checks as reading (NonFinite,
//     OutOfRange, ZeroZero), so fixes from any source can be cleaned.
//  2. Time order. With Order "sort" (the default) the fixes are stably sorted
//     by time and, of several fixes with the same time, the first in input
//     order is kept (DuplicateTime). With Order "drop" the input order is
//     kept and every fix whose time is not later than the last kept fix is
//     dropped (DuplicateTime when equal, NonIncreasing when earlier). Either
//     way Unsorted counts the fixes that came earlier in time than a fix
//     before them; it is informational, not a drop.
//  3. Teleports: a fix is plausible after another when the great-circle
//     distance between them divided by the time between them does not
//     exceed MaxSpeedKmh (200 km/h by default). Every fix is compared with
//     the last KEPT fix, the anchor, never with a dropped one, so a single
//     glitch costs one fix and not the one after it too. An implausible fix
//     is held back as pending; further implausible fixes that are plausible
//     after the previous pending one extend the pending run, others discard
//     it (each discarded fix counts as Teleport). When a plausible fix
//     arrives the pending run is discarded as Teleport. When the pending run
//     becomes longer than the kept chain, i.e. every fix kept for the
//     vehicle since the start or the last re-anchoring (and at least
//     Reanchor fixes long, 3 by default, except at the end of the trace,
//     where longer is enough), the kept chain is the outlier: it is
//     discarded as Teleport and the pending run becomes the kept chain.
//     This is what stops a glitchy first fix from making the rest of the
//     trace look like teleports: the fixes after it agree with each other,
//     outnumber it and replace it. A long, established trace is never
//     replaced by a short glitch run. Positions that are right but carry
//     compressed timestamps (as after a buffered upload: kilometres within a
//     few seconds) are implausible too and are dropped the same way.
//
// After Clean, each vehicle's fixes have strictly increasing times, valid
// coordinates other than (0, 0), and no consecutive pair faster than the
// speed limit, so speeds computed between consecutive fixes are finite and
// not negative.
//
// # Trips and segments
//
// Segments splits a cleaned trace where the time between consecutive fixes
// exceeds a gap (10 minutes by default): the vehicle is offline in between
// and a replay must not interpolate across it. DeriveTrips derives trips from
// the occupancy flag (see DeriveTrips for the flicker and gap rules);
// ReadTrips reads trips from a separate trip file.
//
// # Concurrency
//
// The package holds no global state. Every function is safe to call from
// several goroutines on distinct arguments.
package trace
