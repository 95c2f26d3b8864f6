package models

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refBN is batch norm in float64 with batch statistics: y and the
// weighted sum L = Σ r·y.
func refBN(x []float64, gamma, beta []float64, bs, c, hw int, r []float64) (y []float64, l float64, mean, uvar []float64) {
	y = make([]float64, len(x))
	n := float64(bs * hw)
	for ch := 0; ch < c; ch++ {
		var s, ss float64
		for b := 0; b < bs; b++ {
			for i := 0; i < hw; i++ {
				s += x[(b*c+ch)*hw+i]
			}
		}
		mu := s / n
		for b := 0; b < bs; b++ {
			for i := 0; i < hw; i++ {
				d := x[(b*c+ch)*hw+i] - mu
				ss += d * d
			}
		}
		mean, uvar = append(mean, mu), append(uvar, ss/(n-1))
		for b := 0; b < bs; b++ {
			for i := 0; i < hw; i++ {
				k := (b*c+ch)*hw + i
				y[k] = gamma[ch]*(x[k]-mu)/math.Sqrt(ss/n+bnEpsilon) + beta[ch]
				l += r[k] * y[k]
			}
		}
	}
	return y, l, mean, uvar
}

func TestBatchNormOp(t *testing.T) {
	const bs, c, h, w = 3, 2, 2, 3
	hw := h * w
	rn := newRNG(4)
	xs := make([]float32, bs*c*hw)
	rs := make([]float32, len(xs))
	for i := range xs {
		xs[i] = float32(3*rn.Float64() + float64(i%5))
		rs[i] = float32(2*rn.Float64() - 1)
	}
	gs, bsv := []float32{1.5, -0.5}, []float32{0.25, 2}
	runMean, runVar := []float32{0, 0}, []float32{1, 1}

	g := G.NewGraph()
	mk := func(name string, shape []int, d []float32) *G.Node {
		return G.NewTensor(g, G.Float32, len(shape), G.WithShape(shape...), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))))
	}
	x, gamma, beta := mk("x", []int{bs, c, h, w}, xs), mk("g", []int{c}, gs), mk("b", []int{c}, bsv)
	r := mk("r", []int{bs, c, h, w}, rs)
	y := G.Must(G.ApplyOp(batchNormOp{s: newBNState(0, c, true, runMean, runVar)}, x, gamma, beta))
	l := G.Must(G.Sum(G.Must(G.HadamardProd(y, r))))
	if _, err := G.Grad(l, x, gamma, beta); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(x, gamma, beta))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}

	f64 := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, e := range v {
			out[i] = float64(e)
		}
		return out
	}
	x64, g64, b64, r64 := f64(xs), f64(gs), f64(bsv), f64(rs)
	wantY, _, mean, uvar := refBN(x64, g64, b64, bs, c, hw, r64)
	for i, v := range y.Value().Data().([]float32) {
		if math.Abs(float64(v)-wantY[i]) > 1e-5 {
			t.Fatalf("y[%d] = %v, want %v", i, v, wantY[i])
		}
	}
	for ch := 0; ch < c; ch++ {
		if m := 0.1 * mean[ch]; math.Abs(float64(runMean[ch])-m) > 1e-6 {
			t.Errorf("running mean[%d] = %v, want 0.1·%v", ch, runMean[ch], mean[ch])
		}
		if v := 0.9 + 0.1*uvar[ch]; math.Abs(float64(runVar[ch])-v) > 1e-5 {
			t.Errorf("running var[%d] = %v, want 0.9 + 0.1·%v", ch, runVar[ch], uvar[ch])
		}
	}
	// Gradients against central differences of the float64 reference.
	const eps = 1e-6
	check := func(name string, node *G.Node, vals []float64) {
		gv, err := node.Grad()
		if err != nil {
			t.Fatal(err)
		}
		got := gv.Data().([]float32)
		for i := range vals {
			o := vals[i]
			vals[i] = o + eps
			_, lp, _, _ := refBN(x64, g64, b64, bs, c, hw, r64)
			vals[i] = o - eps
			_, lm, _, _ := refBN(x64, g64, b64, bs, c, hw, r64)
			vals[i] = o
			want := (lp - lm) / (2 * eps)
			if math.Abs(float64(got[i])-want) > 1e-4+1e-4*math.Abs(want) {
				t.Errorf("d L / d %s[%d] = %v, finite difference %v", name, i, got[i], want)
			}
		}
	}
	check("x", x, x64)
	check("gamma", gamma, g64)
	check("beta", beta, b64)
}

// TestEvalRowsIndependent: in evaluation batch norm uses the running
// statistics, so a row's logits do not depend on the other rows of its
// batch; in training they do.
func TestEvalRowsIndependent(t *testing.T) {
	if testing.Short() {
		t.Skip("short: ResNet18 passes take seconds")
	}
	in := Input{3, 32, 32, 10}
	m, params, stats := newInit(t, "resnet18", in, 2)
	for i := range stats {
		stats[i] += 0.1 // away from the initial (0, 1)
	}
	rows := func(mode Mode, second uint64) []float32 {
		net, err := m.NewNet(params, stats, 2, mode, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		fillInput(net.Input()[:in.Size()], 1)
		fillInput(net.Input()[in.Size():], second)
		if err := net.Forward(); err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), net.Logits()[:in.Classes]...)
	}
	saved := append([]float32(nil), stats...)
	a, b := rows(Eval, 2), rows(Eval, 3)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("eval: row 0 logit %d is %v with one partner, %v with another", i, a[i], b[i])
		}
	}
	for i := range stats {
		if stats[i] != saved[i] {
			t.Fatalf("eval changed stats[%d]", i)
		}
	}
	if a, b := rows(Train, 2), rows(Train, 3); a[0] == b[0] {
		t.Errorf("train: row 0 logit 0 is the same (%v) with different partners", a[0])
	}
}
