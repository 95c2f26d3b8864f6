package pareto

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var inf = math.Inf(1)

func ids(ps []Point) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func TestFront(t *testing.T) {
	tests := []struct {
		name string
		pts  []Point
		want []int // IDs on the front, in (X, Y, ID) order
	}{
		{"empty", nil, nil},
		{"single point", []Point{{1, 5, 0.3}}, []int{1}},
		{"single never-hit point", []Point{{1, inf, 0.3}}, []int{1}},
		{
			// The γ-sweep shape: faster trials have larger gaps.
			"trade-off with dominated points",
			[]Point{{1, 100, 0.10}, {2, 200, 0.05}, {3, 300, 0.02}, {4, 250, 0.08}, {5, 150, 0.12}, {6, 400, 0.02}},
			// 4 is dominated by 2 (200 ≤ 250, 0.05 < 0.08); 5 by 1; 6 by 3 (same Y, larger X).
			[]int{1, 2, 3},
		},
		{
			"identical points are both on the front",
			[]Point{{1, 100, 0.1}, {2, 100, 0.1}, {3, 50, 0.2}, {4, 200, 0.05}},
			[]int{3, 1, 2, 4},
		},
		{
			"identical but dominated points are both off",
			[]Point{{1, 100, 0.1}, {2, 100, 0.1}, {3, 90, 0.1}},
			[]int{3},
		},
		{
			"tie in X: smaller Y wins",
			[]Point{{1, 100, 0.2}, {2, 100, 0.1}},
			[]int{2},
		},
		{
			"tie in Y: smaller X wins",
			[]Point{{1, 100, 0.2}, {2, 80, 0.2}},
			[]int{2},
		},
		{
			"never-hit trial with the smallest gap stays on the front",
			[]Point{{1, 100, 0.3}, {2, inf, 0.01}, {3, 200, 0.2}},
			[]int{1, 3, 2},
		},
		{
			"never-hit trial with a larger gap is dominated",
			[]Point{{1, 100, 0.3}, {2, inf, 0.4}, {3, inf, 0.3}},
			[]int{1},
		},
		{
			"all never hit: the smallest gaps",
			[]Point{{1, inf, 0.3}, {2, inf, 0.1}, {3, inf, 0.1}},
			[]int{2, 3},
		},
		{
			"NaN coordinates are left out",
			[]Point{{1, math.NaN(), 0.1}, {2, 100, math.NaN()}, {3, 200, 0.5}},
			[]int{3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(Front(tt.pts))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Front = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFrontMatchesBruteForce compares Front with the definition applied
// pairwise, on random points with many ties and infinities.
func TestFrontMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 300; iter++ {
		n := 1 + r.IntN(30)
		pts := make([]Point, n)
		for i := range pts {
			x := float64(r.IntN(6))
			if r.IntN(8) == 0 {
				x = inf
			}
			pts[i] = Point{ID: i, X: x, Y: float64(r.IntN(6))}
		}
		var want []int
		for _, p := range pts {
			dominated := false
			for _, q := range pts {
				dominated = dominated || Dominates(q, p)
			}
			if !dominated {
				want = append(want, p.ID)
			}
		}
		got := ids(Front(pts))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("points %v: Front IDs %v, brute force %v", pts, got, want)
		}
	}
}

func TestKnee(t *testing.T) {
	tests := []struct {
		name   string
		front  []Point
		want   int
		wantOK bool
	}{
		{"empty", nil, 0, false},
		{"only never-hit points", []Point{{1, inf, 0.1}}, 0, false},
		{"single point", []Point{{7, 100, 0.3}}, 7, true},
		{"single finite point beside a never-hit one", []Point{{7, 100, 0.3}, {8, inf, 0.1}}, 7, true},
		{
			// Normalised: 1 → (0, 1), 2 → (0.1, 0.2), 3 → (1, 0).
			// Distances (1−x−y)/√2: 0, 0.7/√2, 0. Knee: 2.
			"convex front",
			[]Point{{1, 100, 0.6}, {2, 200, 0.2}, {3, 1100, 0.1}},
			2, true,
		},
		{
			// Normalised: 1 → (0, 1), 2 → (0.5, 0.25), 3 → (0.75, 0.125), 4 → (1, 0).
			// Distances ×√2: 0, 0.25, 0.125, 0. Knee: 2.
			"four points",
			[]Point{{1, 0, 8}, {2, 2, 2}, {3, 3, 1}, {4, 4, 0}},
			2, true,
		},
		{
			// Both extremes score 0: the tie goes to the smaller gap.
			"two points: smaller Y wins the tie",
			[]Point{{1, 100, 0.5}, {2, 300, 0.1}},
			2, true,
		},
		{
			// Interior point above the line (concave): −0.1/√2 < 0 = extremes.
			"concave front picks an extreme",
			[]Point{{1, 0, 1}, {2, 0.6, 0.5}, {3, 1, 0}},
			3, true,
		},
		{
			// Two interior points with equal distance: 2 → (0.2, 0.4), 3 → (0.4, 0.2),
			// both 0.4/√2; the smaller Y (3) wins.
			"equal distances: smaller Y wins",
			[]Point{{1, 0, 1}, {2, 0.2, 0.4}, {3, 0.4, 0.2}, {4, 1, 0}},
			3, true,
		},
		{
			"identical points: lowest ID",
			[]Point{{5, 100, 0.2}, {4, 100, 0.2}},
			4, true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Knee(tt.front)
			if ok != tt.wantOK || (ok && got.ID != tt.want) {
				t.Errorf("Knee = %v, %v; want ID %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestKneeDistance(t *testing.T) {
	for _, c := range []struct{ x, y, want float64 }{
		{0, 1, 0}, {1, 0, 0}, {0, 0, 1 / math.Sqrt2}, {0.5, 0.5, 0}, {1, 1, -1 / math.Sqrt2}, {0.1, 0.2, 0.7 / math.Sqrt2},
	} {
		if got := KneeDistance(c.x, c.y); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("KneeDistance(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}
