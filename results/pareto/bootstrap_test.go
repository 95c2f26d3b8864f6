package pareto

import (
	"math"
	"testing"
)

func runs(xy ...float64) []Point {
	var out []Point
	for i := 0; i+1 < len(xy); i += 2 {
		out = append(out, Point{X: xy[i], Y: xy[i+1]})
	}
	return out
}

func shareOf(t *testing.T, r BootstrapResult, id int) Share {
	t.Helper()
	for _, s := range r.Shares {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no share for group %d in %+v", id, r.Shares)
	return Share{}
}

// tiny is a case small enough to enumerate by hand. A (one run) sits at
// (200, 0.2) and C (one run) at (400, 0.1) in every resample; B's two
// runs (100, 0.3) and (300, 0.3) resample to a mean X of 100 (probability
// 1/4), 200 (1/2) or 300 (1/4), Y 0.3.
//
//   - X = 100: the front is B, A, C; normalised x = 0, 1/3, 1 and y = 1,
//     1/2, 0, so A's distance (1 − 1/3 − 1/2)/√2 > 0 = B's = C's: knee A.
//   - X = 200 or 300: A dominates B; the front is A, C, both at distance
//     0, and the tie goes to the smaller Y: knee C.
//
// So P(front) = A 1, B 1/4, C 1 and P(knee) = A 1/4, B 0, C 3/4.
var tiny = []Group{
	{ID: 1, Runs: runs(200, 0.2)},
	{ID: 2, Runs: runs(100, 0.3, 300, 0.3)},
	{ID: 3, Runs: runs(400, 0.1)},
}

func TestBootstrapExact(t *testing.T) {
	r := Bootstrap(tiny, BootstrapOptions{})
	if !r.Exact || r.Resamples != 3 {
		t.Fatalf("exact %v over %d resamples, want the 1·3·1 distinct ones enumerated", r.Exact, r.Resamples)
	}
	for _, c := range []struct {
		id          int
		front, knee float64
	}{{1, 1, 0.25}, {2, 0.25, 0}, {3, 1, 0.75}} {
		s := shareOf(t, r, c.id)
		if math.Abs(s.Front-c.front) > 1e-12 || math.Abs(s.Knee-c.knee) > 1e-12 {
			t.Errorf("group %d: front %v knee %v, want %v and %v", c.id, s.Front, s.Knee, c.front, c.knee)
		}
	}
}

// TestBootstrapMonteCarlo resamples the tiny case with Monte Carlo (more
// distinct resamples than B): the same seed gives the same shares to the
// last bit, and with B = 4000 the shares are within 5 standard errors of
// the exact ones.
func TestBootstrapMonteCarlo(t *testing.T) {
	if r := Bootstrap(tiny, BootstrapOptions{Resamples: 2}); r.Exact || r.Resamples != 2 || r.Seed != DefaultSeed {
		t.Fatalf("%+v: want 2 Monte Carlo resamples with the default seed", r)
	}
	// Two more groups that A dominates in every resample: 1·3·1·35·462
	// distinct resamples, more than B.
	const b = 4000
	groups := append(tiny[:3:3],
		Group{ID: 4, Runs: runs(1000, 1, 1100, 1.1, 1200, 1.2, 1300, 1.3)},
		Group{ID: 5, Runs: runs(5000, 5, 5000, 5, 5000, 5, 5000, 5, 5000, 5, 5000, 5)})
	r := Bootstrap(groups, BootstrapOptions{Resamples: b, Seed: 7})
	if r.Exact || r.Resamples != b || r.Seed != 7 {
		t.Fatalf("exact %v, %d resamples, seed %d; want %d Monte Carlo resamples, seed 7", r.Exact, r.Resamples, r.Seed, b)
	}
	again := Bootstrap(groups, BootstrapOptions{Resamples: b, Seed: 7})
	for i := range r.Shares {
		if r.Shares[i] != again.Shares[i] {
			t.Errorf("same seed, different shares: %+v, then %+v", r.Shares[i], again.Shares[i])
		}
	}
	for _, c := range []struct {
		id          int
		front, knee float64
	}{{1, 1, 0.25}, {2, 0.25, 0}, {3, 1, 0.75}, {4, 0, 0}, {5, 0, 0}} {
		s := shareOf(t, r, c.id)
		tol := func(p float64) float64 { return 5 * math.Sqrt(p*(1-p)/b) }
		if math.Abs(s.Front-c.front) > tol(c.front) || math.Abs(s.Knee-c.knee) > tol(c.knee) {
			t.Errorf("group %d: front %v knee %v, want %v and %v within 5 standard errors", c.id, s.Front, s.Knee, c.front, c.knee)
		}
	}
}

// TestBootstrapDominant: a configuration whose every run beats every run
// of the others in both objectives is on the front and the knee in every
// resample.
func TestBootstrapDominant(t *testing.T) {
	groups := []Group{
		{ID: 10, Runs: runs(100, 0.10, 110, 0.12, 90, 0.11)},
		{ID: 11, Runs: runs(200, 0.30, 250, 0.35, 220, 0.40)},
		{ID: 12, Runs: runs(300, 0.20, 320, 0.25)},
	}
	for _, b := range []int{2000, 50} { // 10·10·3 = 300 distinct: exact, then Monte Carlo
		r := Bootstrap(groups, BootstrapOptions{Resamples: b})
		if r.Exact != (b == 2000) {
			t.Errorf("B = %d: exact %v", b, r.Exact)
		}
		for _, s := range r.Shares {
			want := 0.0
			if s.ID == 10 {
				want = 1
			}
			if math.Abs(s.Front-want) > 1e-12 || math.Abs(s.Knee-want) > 1e-12 {
				t.Errorf("B = %d: group %d front %v knee %v, want %v", b, s.ID, s.Front, s.Knee, want)
			}
		}
	}
}

// TestResamples checks the enumeration of one group's resamples: C(2n−1, n)
// of them, probabilities summing to 1, and n = 2 by hand.
func TestResamples(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 3, 3: 10, 4: 35, 5: 126} {
		g := Group{Runs: make([]Point, n)}
		for i := range g.Runs {
			g.Runs[i] = Point{X: float64(i), Y: float64(-i)}
		}
		rs := resamples(g)
		sum := 0.0
		for _, r := range rs {
			sum += r.w
		}
		if len(rs) != want || int(multisets(n)) != want || math.Abs(sum-1) > 1e-12 {
			t.Errorf("n = %d: %d resamples (multisets %v), total probability %v; want %d and 1", n, len(rs), multisets(n), sum, want)
		}
	}
	rs := resamples(Group{Runs: runs(0, 0, 2, 4)})
	want := map[Point]float64{{X: 0, Y: 0}: 0.25, {X: 1, Y: 2}: 0.5, {X: 2, Y: 4}: 0.25}
	for _, r := range rs {
		if math.Abs(want[r.p]-r.w) > 1e-12 {
			t.Errorf("resample %+v has probability %v, want %v", r.p, r.w, want[r.p])
		}
	}
	if m := (Group{Runs: runs(1, 2, 3, 6)}).Mean(); m.X != 2 || m.Y != 4 {
		t.Errorf("Mean = %+v, want (2, 4)", m)
	}
}
