package splitmix

import (
	"math"
	"slices"
	"testing"
)

// The first outputs of SplitMix64 seeded with 0, from the reference C code
// (Vigna, prng.di.unimi.it/splitmix64.c).
func TestUint64Reference(t *testing.T) {
	r := New(0)
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := r.Uint64(); got != want {
			t.Fatalf("output %d = %#x, want %#x", i, got, want)
		}
	}
	if Mix(0) != 0xe220a8397b1dcdaf {
		t.Fatalf("Mix(0) = %#x, want the first output of New(0)", Mix(0))
	}
}

func TestKeySeparatesCoordinates(t *testing.T) {
	seen := map[uint64][3]uint64{}
	for s := range uint64(4) {
		for a := range uint64(8) {
			for b := range uint64(8) {
				k := Key(s, a, b)
				if prev, ok := seen[k]; ok {
					t.Fatalf("Key(%d, %d, %d) = Key%v", s, a, b, prev)
				}
				seen[k] = [3]uint64{s, a, b}
			}
		}
	}
	if Key(1, 2) == Key(1, 2, 0) {
		t.Fatal("Key(1, 2) equals Key(1, 2, 0): trailing coordinates must count")
	}
}

func TestIntnUniform(t *testing.T) {
	const n, draws = 7, 70000
	r := New(42)
	var counts [n]int
	for range draws {
		counts[r.Intn(n)]++
	}
	// Chi-square with 6 degrees of freedom; 22.46 is the 0.999 quantile.
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - draws/n
		chi += d * d / (draws / n)
	}
	if chi > 22.46 {
		t.Fatalf("Intn(%d) counts %v: chi-square %.1f > 22.46", n, counts, chi)
	}
}

func TestFloat64Range(t *testing.T) {
	r := New(7)
	sum := 0.0
	for range 10000 {
		f := r.Float64()
		if f < 0 || f >= 1 {
			t.Fatalf("Float64() = %v, want [0, 1)", f)
		}
		sum += f
	}
	if mean := sum / 10000; math.Abs(mean-0.5) > 0.01 {
		t.Fatalf("mean of 10000 draws %v, want 0.5 ± 0.01", mean)
	}
}

func TestShuffleIsPermutation(t *testing.T) {
	p := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	r := New(3)
	r.ShuffleInt32(p)
	q := slices.Clone(p)
	slices.Sort(q)
	if !slices.Equal(q, []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("ShuffleInt32 gave %v, not a permutation", p)
	}
	if slices.IsSorted(p) {
		t.Fatalf("ShuffleInt32 left %v in order", p)
	}
}
