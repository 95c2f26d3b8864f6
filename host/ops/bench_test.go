package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BenchmarkConv runs the forward and backward Do of LeNet's two convolution
// layers at batch 128 directly (no tape machine).
func BenchmarkConv(b *testing.B) {
	for _, cc := range []convCase{
		{b: 128, c: 3, h: 32, w: 32, o: 6, kh: 5, kw: 5, relu: true, pool: true},
		{b: 128, c: 6, h: 14, w: 14, o: 16, kh: 5, kw: 5, relu: true, pool: true, dx: true},
	} {
		r := rand.New(rand.NewPCG(1, 1))
		g := gorgonia.NewGraph()
		leaves := convLeaves(r, cc)
		x := leaf(g, "x", leaves[0].data, leaves[0].shape...)
		xc, _ := input(x, cc.dx)
		w := leaf(g, "w", leaves[1].data, leaves[1].shape...)
		bias := leaf(g, "b", leaves[2].data, leaves[2].shape...)
		y, err := Conv2D(xc, w, bias, cc.pad, cc.relu, cc.pool)
		if err != nil {
			b.Fatal(err)
		}
		op := y.Op().(*convOp)
		bwd := &convBwdOp{op}
		xv := x.Value()
		dy := tensor.New(tensor.WithShape(op.yShape()...), tensor.WithBacking(randF32(r, op.yShape().TotalSize())))
		flop := 2 * float64(cc.b*cc.o*op.ho*op.wo*op.k)
		b.Run(fmt.Sprintf("c%d_o%d/forward", cc.c, cc.o), func(b *testing.B) {
			for b.Loop() {
				if _, err := op.Do(xv, w.Value(), bias.Value()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		yv, _ := op.Do(xv, w.Value(), bias.Value())
		b.Run(fmt.Sprintf("c%d_o%d/backward", cc.c, cc.o), func(b *testing.B) {
			for b.Loop() {
				if _, err := bwd.Do(xv, w.Value(), yv, dy); err != nil {
					b.Fatal(err)
				}
			}
			f := flop
			if op.needDx {
				f *= 2
			}
			b.ReportMetric(f*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkKernels times the convolution kernels alone on one sample of
// LeNet's layers (L1/L2-resident data), single-threaded.
func BenchmarkKernels(b *testing.B) {
	for _, l := range []struct {
		name                  string
		c, h, w, o, kh, kw, n int
	}{{"conv1", 3, 32, 32, 6, 5, 5, 0}, {"conv2", 6, 14, 14, 16, 5, 5, 0}} {
		op := &convOp{nb: 1, c: l.c, h: l.h, w: l.w, o: l.o, kh: l.kh, kw: l.kw}
		op.hp, op.wp = l.h, l.w
		op.ho, op.wo = l.h-l.kh+1, l.w-l.kw+1
		op.hy, op.wy = op.ho/2, op.wo/2
		op.layout()
		r := rand.New(rand.NewPCG(1, 1))
		src := randF32(r, op.img)
		w := randF32(r, op.o*op.k)
		out := make([]float32, op.o*op.nw)
		flop := 2 * float64(op.o*op.ho*op.wo*op.k)
		b.Run(l.name+"/gemm", func(b *testing.B) {
			for b.Loop() {
				gatherGemm(op.o, op.nw, op.k, w, src, op.off, op.maxOff, out, op.nw)
			}
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		dw := make([]float32, op.o*op.k)
		b.Run(l.name+"/wgrad", func(b *testing.B) {
			for b.Loop() {
				gatherWgrad(op.o, op.nw, op.k, out, op.nw, src, op.off, op.maxOff, dw)
			}
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
