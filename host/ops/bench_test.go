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
