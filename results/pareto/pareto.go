// Package pareto computes the Pareto front of points in two objectives that
// are both minimised, and picks its knee: the sweet spot where neither
// objective can improve much without the other paying for it.
//
// In the LRSGD lab X is the hitting time (gradient evaluations until the
// train loss first reaches the threshold; a trial that never reached it has
// X = +Inf) and Y is the generalization gap or the measured ε-stability.
package pareto

import (
	"cmp"
	"math"
	"slices"
)

// Point is one trial in objective space. Both X and Y are minimised. X or Y
// may be +Inf (e.g. a hitting time that never happened); a point with a NaN
// coordinate has no place in objective space and is never on the front.
type Point struct {
	ID int // the caller's key, e.g. a trial ID; ties are broken by it
	X  float64
	Y  float64
}

// Dominates reports whether a dominates b: a is no worse than b in both
// objectives and strictly better in at least one. Identical points do not
// dominate each other.
func Dominates(a, b Point) bool {
	return a.X <= b.X && a.Y <= b.Y && (a.X < b.X || a.Y < b.Y)
}

// Front returns the points no other point dominates, sorted by X, then Y,
// then ID. Points with equal coordinates that are not dominated are all on
// the front. Points with a NaN coordinate are left out.
func Front(pts []Point) []Point {
	s := make([]Point, 0, len(pts))
	for _, p := range pts {
		if !math.IsNaN(p.X) && !math.IsNaN(p.Y) {
			s = append(s, p)
		}
	}
	slices.SortFunc(s, compare)
	// In (X, Y) order every point that dominates p comes before p, so p is
	// on the front iff every earlier point that is not equal to p has a
	// larger Y. Equal points are adjacent, so it suffices to track the
	// smallest Y before p's group of equal points.
	var front []Point
	minY, have := math.Inf(1), false // smallest Y before the current group
	groupMinY, groupHave := minY, have
	for i, p := range s {
		if i > 0 && (s[i-1].X != p.X || s[i-1].Y != p.Y) {
			// p starts a new group: fold the previous group into the minimum.
			groupMinY, groupHave = minY, have
		}
		if !groupHave || p.Y < groupMinY {
			front = append(front, p)
		}
		if !have || p.Y < minY {
			minY, have = p.Y, true
		}
	}
	return front
}

// compare orders points by X, then Y, then ID.
func compare(a, b Point) int {
	if c := cmp.Compare(a.X, b.X); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Y, b.Y); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// KneeDistance is the knee score of a point whose min–max normalised
// coordinates are xn and yn: its signed distance to the line through the
// front's normalised extremes (0, 1) and (1, 0), positive on the side of the
// ideal point (0, 0).
func KneeDistance(xn, yn float64) float64 {
	return (1 - xn - yn) / math.Sqrt2
}

// Knee returns the sweet spot of a front by this rule:
//
//  1. Only points with finite X and Y are candidates (a trial that never
//     reached the loss threshold cannot be a sweet spot); ok is false when
//     there are none.
//  2. One candidate (or several identical ones): it is the knee (the lowest
//     ID among identical ones).
//  3. Otherwise each candidate's X and Y are min–max normalised over the
//     candidates to [0, 1], and the knee is the candidate with the largest
//     KneeDistance to the line joining the two extremes of the normalised
//     front, (0, 1) and (1, 0), measured towards the ideal point (0, 0).
//     On a convex front that is the point that bulges furthest towards the
//     ideal; on a front with no bulge (every interior point on or above the
//     line) it is one of the extremes.
//  4. Ties (scores within 1e-12) go to the smaller Y (the more stable
//     trial), then the smaller X, then the smaller ID.
//
// front is normally Front's result; Knee does not check that it is one.
func Knee(front []Point) (knee Point, ok bool) {
	var c []Point
	for _, p := range front {
		if !math.IsInf(p.X, 0) && !math.IsInf(p.Y, 0) && !math.IsNaN(p.X) && !math.IsNaN(p.Y) {
			c = append(c, p)
		}
	}
	if len(c) == 0 {
		return Point{}, false
	}
	xmin, xmax, ymin, ymax := c[0].X, c[0].X, c[0].Y, c[0].Y
	for _, p := range c[1:] {
		xmin, xmax = min(xmin, p.X), max(xmax, p.X)
		ymin, ymax = min(ymin, p.Y), max(ymax, p.Y)
	}
	norm := func(v, lo, hi float64) float64 {
		if hi == lo {
			return 0
		}
		return (v - lo) / (hi - lo)
	}
	best, bestD := c[0], math.Inf(-1)
	for _, p := range c {
		d := KneeDistance(norm(p.X, xmin, xmax), norm(p.Y, ymin, ymax))
		switch {
		case d > bestD+1e-12:
			best, bestD = p, d
		case d >= bestD-1e-12 && tieBefore(p, best):
			best, bestD = p, max(d, bestD)
		}
	}
	return best, true
}

// tieBefore orders tied knee candidates: smaller Y, then X, then ID.
func tieBefore(a, b Point) bool {
	if a.Y != b.Y {
		return a.Y < b.Y
	}
	if a.X != b.X {
		return a.X < b.X
	}
	return a.ID < b.ID
}
