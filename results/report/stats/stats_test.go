package stats

import (
	"math"
	"testing"
)

// Textbook quantiles t(0.975, ν), from tables.
const (
	t975df1 = 12.706204736174707
	t975df2 = 4.302652729911275
	t975df4 = 2.7764451051977987
)

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol*max(1, math.Abs(b))
}

func TestTQuantile(t *testing.T) {
	for _, c := range []struct{ df, want float64 }{
		{1, t975df1}, {2, t975df2}, {4, t975df4}, {math.Inf(1), 1.959963984540054},
	} {
		if got := TQuantile(c.df); !near(got, c.want, 1e-9) {
			t.Errorf("TQuantile(%v) = %.15g, want %.15g", c.df, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name                   string
		xs                     []float64
		n                      int
		mean, std, lo, hi, tol float64
	}{
		// mean 0.72, std √((0.02² + 0 + 0.02²)/2) = 0.02,
		// half-width t(0.975, 2)·0.02/√3.
		{"three seeds", []float64{0.70, 0.72, 0.74}, 3, 0.72, 0.02,
			0.72 - t975df2*0.02/math.Sqrt(3), 0.72 + t975df2*0.02/math.Sqrt(3), 1e-9},
		// mean 3, std √((1 + 1)/1) = √2, half-width t(0.975, 1)·√2/√2.
		{"two seeds", []float64{2, 4}, 2, 3, math.Sqrt2, 3 - t975df1, 3 + t975df1, 1e-9},
		{"identical", []float64{5, 5, 5}, 3, 5, 0, 5, 5, 1e-12},
		{"one run: no interval", []float64{0.5}, 1, 0.5, nan, nan, nan, 0},
		{"NaN and Inf left out", []float64{2, nan, 4, math.Inf(1)}, 2, 3, math.Sqrt2, 3 - t975df1, 3 + t975df1, 1e-9},
		{"none", nil, 0, nan, nan, nan, nan, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Summarize(c.xs)
			if s.N != c.n || !near(s.Mean, c.mean, 1e-12) || !near(s.Std, c.std, 1e-12) ||
				!near(s.Lo, c.lo, c.tol) || !near(s.Hi, c.hi, c.tol) {
				t.Errorf("Summarize(%v) = %+v, want n=%d mean=%v std=%v [%v, %v]", c.xs, s, c.n, c.mean, c.std, c.lo, c.hi)
			}
			if s.HasInterval() != (c.n >= 2) {
				t.Errorf("HasInterval() = %v with n = %d", s.HasInterval(), s.N)
			}
		})
	}
}

func TestWelch(t *testing.T) {
	b := Summarize([]float64{0.70, 0.72, 0.74}) // mean 0.72, s² = 0.0004
	for _, c := range []struct {
		name             string
		a                []float64
		mean, df, lo, hi float64
		excludesZero     bool
	}{
		// Equal n = 3 and equal s² = 0.0004: va = vb = 0.0004/3, df =
		// (2v)²/(2v²/2) = 4, half-width t(0.975, 4)·√(2·0.0004/3).
		{"overlapping", []float64{0.74, 0.76, 0.78}, 0.04, 4,
			0.04 - t975df4*math.Sqrt(0.0008/3), 0.04 + t975df4*math.Sqrt(0.0008/3), false},
		{"better", []float64{0.80, 0.82, 0.84}, 0.10, 4,
			0.10 - t975df4*math.Sqrt(0.0008/3), 0.10 + t975df4*math.Sqrt(0.0008/3), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, ok := Welch(Summarize(c.a), b)
			if !ok || !near(d.Mean, c.mean, 1e-12) || !near(d.DF, c.df, 1e-9) || !near(d.Lo, c.lo, 1e-9) ||
				!near(d.Hi, c.hi, 1e-9) || d.ExcludesZero() != c.excludesZero {
				t.Errorf("Welch = %+v (ok %v, excludes 0: %v), want mean %v df %v [%v, %v] excludes 0: %v",
					d, ok, d.ExcludesZero(), c.mean, c.df, c.lo, c.hi, c.excludesZero)
			}
		})
	}

	// Unequal spreads and sizes: a = {1, 2, 3, 4} (n 4, s² 5/3), b = {0,
	// 0.5} (n 2, s² 0.125). va = 5/12, vb = 0.0625; df = (va + vb)² /
	// (va²/3 + vb²/1).
	a2, b2 := Summarize([]float64{1, 2, 3, 4}), Summarize([]float64{0, 0.5})
	va, vb := 5.0/12, 0.0625
	wantDF := (va + vb) * (va + vb) / (va*va/3 + vb*vb)
	d, ok := Welch(a2, b2)
	if !ok || !near(d.Mean, 2.25, 1e-12) || !near(d.DF, wantDF, 1e-12) ||
		!near(d.Hi-d.Mean, TQuantile(wantDF)*math.Sqrt(va+vb), 1e-12) {
		t.Errorf("Welch unequal = %+v, want mean 2.25 df %v", d, wantDF)
	}
	if _, ok := Welch(Summarize([]float64{1}), b); ok {
		t.Error("Welch with one run: ok, want no interval")
	}
	// No spread on either side: the interval is the point.
	if d, ok := Welch(Summarize([]float64{2, 2}), Summarize([]float64{1, 1, 1})); !ok || d.Lo != 1 || d.Hi != 1 || !d.ExcludesZero() {
		t.Errorf("Welch without spread = %+v, %v; want [1, 1]", d, ok)
	}
}
