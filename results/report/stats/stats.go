// Package stats summarises a handful of repeated runs: the mean, the sample
// standard deviation and the 95% Student t interval of the mean, and the
// difference of two means with Welch's t interval.
//
// The runs of one configuration are few (a study's seeds: 2 to 10), so the
// intervals use Student's t with n − 1 degrees of freedom rather than the
// normal approximation: with n = 3 the 95% quantile is 4.30, not 1.96.
package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Level is the coverage of every interval in this package.
const Level = 0.95

// TQuantile returns the 97.5% quantile of Student's t distribution with df
// degrees of freedom (df > 0, not necessarily an integer; +Inf gives the
// normal quantile): the factor of the two-sided 95% interval.
func TQuantile(df float64) float64 {
	if math.IsInf(df, 1) {
		return distuv.UnitNormal.Quantile(1 - (1-Level)/2)
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(1 - (1-Level)/2)
}

// Summary describes n values.
type Summary struct {
	N    int
	Mean float64 // NaN when N = 0
	// Std is the sample standard deviation (divisor n − 1); NaN when
	// N < 2.
	Std float64
	// Lo and Hi bound the 95% t interval of the mean,
	// Mean ± t(0.975, n−1)·Std/√n; both NaN when N < 2 (one run has no
	// interval).
	Lo, Hi float64
}

// HasInterval reports whether the summary has an interval (N ≥ 2).
func (s Summary) HasInterval() bool { return s.N >= 2 }

// Summarize returns the summary of xs. NaN and infinite values are left
// out (and so not counted in N).
func Summarize(xs []float64) Summary {
	var vals []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			vals = append(vals, x)
		}
	}
	s := Summary{N: len(vals), Mean: math.NaN(), Std: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if s.N == 0 {
		return s
	}
	s.Mean = mean(vals)
	if s.N < 2 {
		return s
	}
	s.Std = math.Sqrt(variance(vals, s.Mean))
	h := TQuantile(float64(s.N-1)) * s.Std / math.Sqrt(float64(s.N))
	s.Lo, s.Hi = s.Mean-h, s.Mean+h
	return s
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// variance is the sample variance (divisor n − 1) about m.
func variance(xs []float64, m float64) float64 {
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return ss / float64(len(xs)-1)
}

// Diff is the difference of two means, a − b, with Welch's 95% interval.
type Diff struct {
	Mean float64 // mean(a) − mean(b)
	// DF is the Welch–Satterthwaite degrees of freedom; +Inf when both
	// samples have zero spread (then the interval is the point Mean).
	DF float64
	// Lo and Hi bound the interval Mean ± t(0.975, DF)·√(s²a/na + s²b/nb).
	Lo, Hi float64
}

// ExcludesZero reports whether the interval lies wholly on one side of 0.
func (d Diff) ExcludesZero() bool { return d.Lo > 0 || d.Hi < 0 }

// Welch returns the difference of the means of a and b with Welch's t
// interval, which does not assume equal variances: the standard error is
// √(s²a/na + s²b/nb) and the degrees of freedom are Welch–Satterthwaite's,
// (va + vb)² / (va²/(na−1) + vb²/(nb−1)) with va = s²a/na, vb = s²b/nb.
// ok is false when either summary has fewer than 2 values.
func Welch(a, b Summary) (d Diff, ok bool) {
	if a.N < 2 || b.N < 2 {
		return Diff{Mean: a.Mean - b.Mean, DF: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}, false
	}
	va := a.Std * a.Std / float64(a.N)
	vb := b.Std * b.Std / float64(b.N)
	d.Mean = a.Mean - b.Mean
	if va+vb == 0 {
		d.DF, d.Lo, d.Hi = math.Inf(1), d.Mean, d.Mean
		return d, true
	}
	d.DF = (va + vb) * (va + vb) / (va*va/float64(a.N-1) + vb*vb/float64(b.N-1))
	h := TQuantile(d.DF) * math.Sqrt(va+vb)
	d.Lo, d.Hi = d.Mean-h, d.Mean+h
	return d, true
}
