package data

import (
	"context"
	"math"
	"runtime"
	"slices"
	"testing"
)

// randomSet returns a Set of n random CIFAR-shaped images (pixels 1..255
// unless zeros is set) with the CIFAR-10 constants.
func randomSet(n int, seed uint64, zeros bool) *Set {
	r := newRNG(seed)
	s := &Set{Name: "random", N: n, C: 3, H: 32, W: 32, Classes: 10,
		Images: make([]uint8, n*3072), Labels: make([]uint8, n), Mean: CIFAR10Mean(), Std: CIFAR10Std()}
	for i := range s.Images {
		v := r.Intn(256)
		if !zeros && v == 0 {
			v = 1
		}
		s.Images[i] = uint8(v)
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(r.Intn(10))
	}
	return s
}

func TestNormalizationMatchesTorchvision(t *testing.T) {
	s := randomSet(1, 1, true)
	// Hand-computed in float64 from the reference constants; the float32
	// pipeline must agree to float32 rounding.
	for _, tc := range []struct {
		c    int
		v    uint8
		want float64
	}{
		{0, 0, -0.4914 / 0.2023},
		{1, 0, -0.4822 / 0.1994},
		{2, 0, -0.4465 / 0.2010},
		{0, 255, (1 - 0.4914) / 0.2023},
		{1, 128, (128.0/255 - 0.4822) / 0.1994},
		{2, 77, (77.0/255 - 0.4465) / 0.2010},
	} {
		got := s.Normalize(tc.c, tc.v)
		if math.Abs(float64(got)-tc.want) > 1e-6*math.Abs(tc.want)+1e-6 {
			t.Errorf("Normalize(%d, %d) = %v, want %v", tc.c, tc.v, got, tc.want)
		}
		// The float32 sequence torchvision runs: div(255), sub_(mean), div_(std).
		x := float32(tc.v) / 255
		x -= s.Mean[tc.c]
		if got != x/s.Std[tc.c] {
			t.Errorf("Normalize(%d, %d) = %v, float32 pipeline gives %v", tc.c, tc.v, got, x/s.Std[tc.c])
		}
	}
}

func TestSetBatch(t *testing.T) {
	s := randomSet(10, 2, true)
	x := make([]float32, 4*3072)
	y := make([]int, 4)
	if n := s.Batch(8, 4, x, y); n != 2 {
		t.Fatalf("Batch at the end wrote %d, want 2", n)
	}
	for i := 0; i < 2; i++ {
		if y[i] != int(s.Labels[8+i]) {
			t.Errorf("label %d = %d, want %d", i, y[i], s.Labels[8+i])
		}
		for c := 0; c < 3; c++ {
			for p := 0; p < 1024; p++ {
				if got, want := x[i*3072+c*1024+p], s.Normalize(c, s.Images[(8+i)*3072+c*1024+p]); got != want {
					t.Fatalf("image %d c %d p %d: %v, want %v", i, c, p, got, want)
				}
			}
		}
	}
	if n := s.Batch(10, 4, x, y); n != 0 {
		t.Errorf("Batch past the end wrote %d", n)
	}
	if a := testing.AllocsPerRun(20, func() { s.Batch(0, 4, x, y) }); a != 0 {
		t.Errorf("Batch allocates %v times per call", a)
	}
}

func TestStreamCoversEveryIndexOncePerPass(t *testing.T) {
	const n, batch = 37, 8
	s := randomSet(n, 3, true)
	st := NewStream(s, batch, 42, false)
	x := make([]float32, batch*3072)
	y := make([]int, batch)
	idx := make([]int, batch)
	var drawn []int
	for len(drawn) < 5*n {
		st.Next(x, y, idx)
		for b, i := range idx {
			if y[b] != int(s.Labels[i]) {
				t.Fatalf("label %d for index %d, want %d", y[b], i, s.Labels[i])
			}
		}
		drawn = append(drawn, idx...)
	}
	var perms [][]int
	for p := 0; p < 5; p++ {
		pass := append([]int(nil), drawn[p*n:(p+1)*n]...)
		perms = append(perms, append([]int(nil), pass...))
		slices.Sort(pass)
		for i, v := range pass {
			if v != i {
				t.Fatalf("pass %d does not draw every index once: sorted %v", p, pass)
			}
		}
	}
	if slices.Equal(perms[0], perms[1]) || slices.Equal(perms[1], perms[2]) {
		t.Error("consecutive passes use the same order")
	}
	// 5*37 = 185 draws fit into 24 batches = 192 draws: now 7 into pass 5.
	if got := st.State(); got.Pass != 5 || got.Offset != 192-185 || got.N != n || got.Seed != 42 {
		t.Errorf("state %+v, want pass 5 offset 7", got)
	}
}

func TestStreamPlainMatchesBatch(t *testing.T) {
	s := randomSet(20, 4, true)
	st := NewStream(s, 5, 1, false)
	x, y, idx := make([]float32, 5*3072), make([]int, 5), make([]int, 5)
	x1, y1 := make([]float32, 3072), make([]int, 1)
	for k := 0; k < 6; k++ {
		st.Next(x, y, idx)
		for b, i := range idx {
			s.Batch(i, 1, x1, y1)
			if !slices.Equal(x[b*3072:(b+1)*3072], x1) || y[b] != y1[0] {
				t.Fatalf("draw %d (index %d) differs from Batch", k*5+b, i)
			}
		}
	}
}

// padded returns image i of s with Pad zero pixels on every side, each
// pixel normalised: the torchvision picture (pad the raw image, then
// ToTensor and Normalize), built independently of the stream code.
func padded(s *Set, i int) [][][]float32 {
	P := s.H + 2*Pad
	out := make([][][]float32, s.C)
	for c := range out {
		out[c] = make([][]float32, P)
		for y := range out[c] {
			out[c][y] = make([]float32, P)
			for x := range out[c][y] {
				var v uint8 // zero padding of the raw image
				if yy, xx := y-Pad, x-Pad; yy >= 0 && yy < s.H && xx >= 0 && xx < s.W {
					v = s.Images[i*s.ImageSize()+c*s.H*s.W+yy*s.W+xx]
				}
				out[c][y][x] = s.Normalize(c, v)
			}
		}
	}
	return out
}

// window reports whether img (C×H×W) is the H×W window of p at (dx, dy),
// mirrored horizontally when flip.
func window(s *Set, img []float32, p [][][]float32, dx, dy int, flip bool) bool {
	for c := 0; c < s.C; c++ {
		for y := 0; y < s.H; y++ {
			for x := 0; x < s.W; x++ {
				xx := x
				if flip {
					xx = s.W - 1 - x
				}
				if img[c*s.H*s.W+y*s.W+x] != p[c][y+dy][xx+dx] {
					return false
				}
			}
		}
	}
	return true
}

func TestAugmentation(t *testing.T) {
	// Pixels 1..255, so zeros in a batch come only from the padding.
	s := randomSet(50, 5, false)
	const batch = 25
	st := NewStream(s, batch, 9, true)
	x, y, idx := make([]float32, batch*3072), make([]int, batch), make([]int, batch)
	seenDX, seenDY := map[int]bool{}, map[int]bool{}
	flips, draws := 0, 0
	for k := 0; k < 8; k++ {
		st.Next(x, y, idx)
		for b, i := range idx {
			img := x[b*3072 : (b+1)*3072]
			p := padded(s, i)
			found := 0
			for dx := 0; dx <= 2*Pad; dx++ {
				for dy := 0; dy <= 2*Pad; dy++ {
					for _, flip := range []bool{false, true} {
						if window(s, img, p, dx, dy, flip) {
							found++
							seenDX[dx], seenDY[dy] = true, true
							if flip {
								flips++
							}
						}
					}
				}
			}
			if found != 1 {
				t.Fatalf("draw %d (image %d): matches %d windows of the zero-padded image, want exactly 1", draws, i, found)
			}
			draws++
		}
	}
	if len(seenDX) != 2*Pad+1 || len(seenDY) != 2*Pad+1 {
		t.Errorf("crop offsets seen: dx %v dy %v; want all of 0..%d in 200 draws", seenDX, seenDY, 2*Pad)
	}
	if flips < 70 || flips > 130 {
		t.Errorf("%d flips in %d draws, want about half", flips, draws)
	}
}

func TestAugmentFlipIsMirrorAndPaddingIsZero(t *testing.T) {
	s := randomSet(1, 6, false)
	st := NewStream(s, 1, 0, true)
	src := s.Images[:3072]
	a, b := make([]float32, 3072), make([]float32, 3072)
	for dx := 0; dx <= 2*Pad; dx++ {
		for dy := 0; dy <= 2*Pad; dy++ {
			st.writeAugmented(a, src, dx, dy, false)
			st.writeAugmented(b, src, dx, dy, true)
			for c := 0; c < 3; c++ {
				padValue := s.Normalize(c, 0)
				nPad := 0
				for y := 0; y < 32; y++ {
					for x := 0; x < 32; x++ {
						if a[c*1024+y*32+x] != b[c*1024+y*32+31-x] {
							t.Fatalf("dx %d dy %d: flipped output is not the mirror at c %d (%d, %d)", dx, dy, c, y, x)
						}
						sy, sx := y+dy-Pad, x+dx-Pad
						inside := sy >= 0 && sy < 32 && sx >= 0 && sx < 32
						if a[c*1024+y*32+x] == padValue {
							nPad++
						}
						if !inside && a[c*1024+y*32+x] != padValue {
							t.Fatalf("dx %d dy %d: padded pixel (%d, %d) = %v, want (0-mean)/std = %v", dx, dy, y, x, a[c*1024+y*32+x], padValue)
						}
						if inside && a[c*1024+y*32+x] != s.Normalize(c, src[c*1024+sy*32+sx]) {
							t.Fatalf("dx %d dy %d: pixel (%d, %d) is not source (%d, %d)", dx, dy, y, x, sy, sx)
						}
					}
				}
				// No source pixel is 0, so the pad count is the border area.
				ax, ay := abs(dx-Pad), abs(dy-Pad)
				if want := 1024 - (32-ax)*(32-ay); nPad != want {
					t.Fatalf("dx %d dy %d: %d padded pixels, want %d", dx, dy, nPad, want)
				}
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// draws returns k batches of a fresh stream.
func draws(s *Set, batch int, seed uint64, augment bool, k int) ([]float32, []int) {
	st := NewStream(s, batch, seed, augment)
	x, y := make([]float32, batch*s.ImageSize()), make([]int, batch)
	var xs []float32
	var ys []int
	for i := 0; i < k; i++ {
		st.Next(x, y, nil)
		xs = append(xs, x...)
		ys = append(ys, y...)
	}
	return xs, ys
}

func TestStreamSeeds(t *testing.T) {
	s := randomSet(30, 7, true)
	for _, augment := range []bool{false, true} {
		x1, y1 := draws(s, 8, 11, augment, 6)
		x2, y2 := draws(s, 8, 11, augment, 6)
		if !slices.Equal(x1, x2) || !slices.Equal(y1, y2) {
			t.Errorf("augment %v: same seed, different batches", augment)
		}
		x3, _ := draws(s, 8, 12, augment, 6)
		if slices.Equal(x1[:8*3072], x3[:8*3072]) {
			t.Errorf("augment %v: different seeds, same first batch", augment)
		}
	}
	// Same seed and order, with and without augmentation: only the pixels differ.
	_, yp := draws(s, 8, 11, false, 6)
	_, ya := draws(s, 8, 11, true, 6)
	if !slices.Equal(yp, ya) {
		t.Error("augmentation changed the draw order")
	}
}

func TestStreamResume(t *testing.T) {
	s := randomSet(23, 8, true)
	const batch = 5
	x, y, idx := make([]float32, batch*3072), make([]int, batch), make([]int, batch)
	for _, skip := range []int{0, 3, 4, 5, 9} { // 4 and 5 straddle the pass boundary at draw 23
		a := NewStream(s, batch, 99, true)
		for i := 0; i < skip; i++ {
			a.Next(x, y, idx)
		}
		state := a.State()
		blob, err := state.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := back.UnmarshalBinary(blob); err != nil || back != state {
			t.Fatalf("state round trip: %+v -> %+v (%v)", state, back, err)
		}
		b := NewStream(s, batch, 1, true) // another seed: SetState must override it
		b.Next(x, y, idx)
		if err := b.SetState(back); err != nil {
			t.Fatal(err)
		}
		xb, yb, ib := make([]float32, len(x)), make([]int, batch), make([]int, batch)
		for i := 0; i < 12; i++ {
			a.Next(x, y, idx)
			b.Next(xb, yb, ib)
			if !slices.Equal(x, xb) || !slices.Equal(y, yb) || !slices.Equal(idx, ib) {
				t.Fatalf("skip %d: batch %d after resume differs", skip, i)
			}
		}
		if a.State() != b.State() {
			t.Errorf("skip %d: states %+v and %+v", skip, a.State(), b.State())
		}
	}
	st := NewStream(s, batch, 1, false)
	if err := st.SetState(State{Seed: 1, N: 24}); err == nil {
		t.Error("SetState accepted a state for a set of another size")
	}
	if err := st.SetState(State{Seed: 1, N: 23, Offset: 24}); err == nil {
		t.Error("SetState accepted offset past the end")
	}
}

func TestStreamNoAllocation(t *testing.T) {
	s := randomSet(40, 9, true)
	for _, augment := range []bool{false, true} {
		st := NewStream(s, 16, 3, augment)
		x, y, idx := make([]float32, 16*3072), make([]int, 16), make([]int, 16)
		// 100 calls cross 40 pass boundaries (reshuffles).
		if a := testing.AllocsPerRun(100, func() { st.Next(x, y, idx) }); a != 0 {
			t.Errorf("augment %v: Next allocates %v times per call", augment, a)
		}
	}
}

func benchSet(b *testing.B) *Set {
	b.Helper()
	train, _, err := Load(context.Background(), Source{Dataset: Synthetic, Seed: 1, TrainSize: 10000, TestSize: 10})
	if err != nil {
		b.Fatal(err)
	}
	return train
}

// benchLoop runs f b.N times on one locked OS thread and reports, besides
// the wall time, the thread's CPU time per op (cpu-ns/op), which stays
// meaningful when other processes load the machine.
func benchLoop(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	c0, ok := threadCPU()
	b.ResetTimer()
	for b.Loop() {
		f()
	}
	b.StopTimer()
	if c1, _ := threadCPU(); ok {
		b.ReportMetric(float64((c1-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkNext: one CIFAR-shaped batch of 128 with augmentation.
func BenchmarkNext(b *testing.B) {
	st := NewStream(benchSet(b), 128, 1, true)
	x, y, idx := make([]float32, 128*3072), make([]int, 128), make([]int, 128)
	benchLoop(b, func() { st.Next(x, y, idx) })
}

// BenchmarkNextPlain: the same without augmentation.
func BenchmarkNextPlain(b *testing.B) {
	st := NewStream(benchSet(b), 128, 1, false)
	x, y, idx := make([]float32, 128*3072), make([]int, 128), make([]int, 128)
	benchLoop(b, func() { st.Next(x, y, idx) })
}

// BenchmarkSetBatch: evaluation batches of 128, in order.
func BenchmarkSetBatch(b *testing.B) {
	s := benchSet(b)
	x, y := make([]float32, 128*3072), make([]int, 128)
	i := 0
	benchLoop(b, func() {
		if s.Batch(i, 128, x, y) < 128 {
			i = 0
		} else {
			i += 128
		}
	})
}
