package models

import (
	"math"
	"testing"
)

// refLeNet is an independent float64 implementation of LeNet's forward
// pass and mean cross-entropy over the layout's flat parameters.
func refLeNet(m *Model, params []float64, x []float64, labels []int) (loss float64, logits []float64) {
	in := m.Input()
	p := map[string][]float64{}
	for _, t := range m.Layout() {
		p[t.Name] = params[t.Offset : t.Offset+t.Size]
	}
	// conv (valid, stride 1) + bias → ReLU → 2×2 max-pool
	block := func(x []float64, c, h, w int, wt, bias []float64, o, k int) ([]float64, int, int) {
		oh, ow := h-k+1, w-k+1
		conv := make([]float64, o*oh*ow)
		for oc := 0; oc < o; oc++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					s := bias[oc]
					for ic := 0; ic < c; ic++ {
						for di := 0; di < k; di++ {
							for dj := 0; dj < k; dj++ {
								s += wt[((oc*c+ic)*k+di)*k+dj] * x[(ic*h+i+di)*w+j+dj]
							}
						}
					}
					conv[(oc*oh+i)*ow+j] = math.Max(s, 0)
				}
			}
		}
		ph, pw := oh/2, ow/2
		pool := make([]float64, o*ph*pw)
		for oc := 0; oc < o; oc++ {
			for i := 0; i < ph; i++ {
				for j := 0; j < pw; j++ {
					v := math.Inf(-1)
					for di := 0; di < 2; di++ {
						for dj := 0; dj < 2; dj++ {
							v = math.Max(v, conv[(oc*oh+2*i+di)*ow+2*j+dj])
						}
					}
					pool[(oc*ph+i)*pw+j] = v
				}
			}
		}
		return pool, ph, pw
	}
	dense := func(x, w, b []float64, out int, relu bool) []float64 {
		y := make([]float64, out)
		for o := range y {
			s := b[o]
			for i, v := range x {
				s += v * w[i*out+o]
			}
			if relu {
				s = math.Max(s, 0)
			}
			y[o] = s
		}
		return y
	}
	for s, y := range labels {
		img := x[s*in.Size() : (s+1)*in.Size()]
		a, h, w := block(img, in.C, in.H, in.W, p["conv1.weight"], p["conv1.bias"], 6, 5)
		a, _, _ = block(a, 6, h, w, p["conv2.weight"], p["conv2.bias"], 16, 5)
		a = dense(a, p["fc1.weight"], p["fc1.bias"], 120, true)
		a = dense(a, p["fc2.weight"], p["fc2.bias"], 84, true)
		a = dense(a, p["fc3.weight"], p["fc3.bias"], in.Classes, false)
		logits = append(logits, a...)
		mx := math.Inf(-1)
		for _, v := range a {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range a {
			z += math.Exp(v - mx)
		}
		loss += mx + math.Log(z) - a[y]
	}
	return loss / float64(len(labels)), logits
}

// TestLeNetGradientFiniteDifferences checks the graph's forward pass and
// gradient against the float64 reference: logits to float32 precision,
// and the gradient against central differences of the reference loss on
// sampled coordinates of every tensor and on random directions.
func TestLeNetGradientFiniteDifferences(t *testing.T) {
	for _, c := range []struct {
		in   Input
		fast bool
	}{{Input{3, 32, 32, 10}, false}, {Input{1, 28, 28, 10}, false}, {Input{3, 32, 32, 10}, true}, {Input{1, 28, 28, 10}, true}} {
		in := c.in
		m, params, stats := newInitOpts(t, "lenet", in, 11, Options{Fast: c.fast})
		if m.FastOps() != c.fast {
			t.Fatalf("FastOps() = %v with Options.Fast %v", m.FastOps(), c.fast)
		}
		const batch = 3
		net, err := m.NewNet(params, stats, batch, Train, 0)
		if err != nil {
			t.Fatal(err)
		}
		fillInput(net.Input(), 5)
		labels := []int{3, 0, 7}
		grads := make([]float32, m.NumParams())
		loss, err := net.TrainStep(labels, 0, grads)
		if err != nil {
			t.Fatal(err)
		}
		p64 := make([]float64, len(params))
		for i, v := range params {
			p64[i] = float64(v)
		}
		x64 := make([]float64, len(net.Input()))
		for i, v := range net.Input() {
			x64[i] = float64(v)
		}
		refLoss, refLogits := refLeNet(m, p64, x64, labels)
		if math.Abs(loss-refLoss) > 1e-5 {
			t.Errorf("%v: loss %v, reference %v", in, loss, refLoss)
		}
		for i, v := range net.Logits() {
			if math.Abs(float64(v)-refLogits[i]) > 1e-5 {
				t.Fatalf("%v: logit %d = %v, reference %v", in, i, v, refLogits[i])
			}
		}
		const h = 1e-6
		fd := func(dir []float64) float64 {
			plus := make([]float64, len(p64))
			minus := make([]float64, len(p64))
			for i := range p64 {
				plus[i], minus[i] = p64[i]+h*dir[i], p64[i]-h*dir[i]
			}
			lp, _ := refLeNet(m, plus, x64, labels)
			lm, _ := refLeNet(m, minus, x64, labels)
			return (lp - lm) / (2 * h)
		}
		r := newRNG(99)
		checked := 0
		for _, tn := range m.Layout() {
			for k := 0; k < 4; k++ {
				i := tn.Offset + int(r.Uint64()%uint64(tn.Size))
				dir := make([]float64, len(p64))
				dir[i] = 1
				want := fd(dir)
				if got := float64(grads[i]); math.Abs(got-want) > 2e-5+1e-3*math.Abs(want) {
					t.Errorf("%v: d loss / d %s[%d] = %.7g, finite difference %.7g", in, tn.Name, i-tn.Offset, got, want)
				}
				checked++
			}
		}
		for k := 0; k < 3; k++ {
			dir := make([]float64, len(p64))
			var dot float64
			for i := range dir {
				dir[i] = 2*r.Float64() - 1
				dot += dir[i] * float64(grads[i])
			}
			if want := fd(dir); math.Abs(dot-want) > 1e-4+1e-3*math.Abs(want) {
				t.Errorf("%v: directional derivative %.7g, finite difference %.7g", in, dot, want)
			}
		}
		t.Logf("%v fast=%v: loss %.6f, %d coordinates and 3 directions checked", in, c.fast, loss, checked)
	}
}

// TestResNetDirectionalDerivative checks ResNet18's gradient (batch norm
// in training mode, residual sums, strided and 1×1 convolutions, the
// average pool) along the gradient direction against central differences
// of the graph's own float32 loss.
func TestResNetDirectionalDerivative(t *testing.T) {
	if testing.Short() {
		t.Skip("short: ResNet18 passes take seconds")
	}
	m, params, stats := newInit(t, "resnet18", Input{3, 32, 32, 10}, 1)
	net, err := m.NewNet(params, stats, 2, Train, 0)
	if err != nil {
		t.Fatal(err)
	}
	fillInput(net.Input(), 3)
	labels := []int{0, 1}
	grads := make([]float32, m.NumParams())
	if _, err := net.TrainStep(labels, 0, grads); err != nil {
		t.Fatal(err)
	}
	g := append([]float32(nil), grads...)
	var norm float64
	for _, v := range g {
		norm += float64(v) * float64(v)
	}
	norm = math.Sqrt(norm)
	base := append([]float32(nil), params...)
	const h = 1e-4
	loss := func(sign float64) float64 {
		for i := range params {
			params[i] = base[i] + float32(sign*h*float64(g[i])/norm)
		}
		l, err := net.TrainStep(labels, 0, grads)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	fd := (loss(1) - loss(-1)) / (2 * h)
	if math.Abs(fd-norm) > 0.03*norm {
		t.Errorf("derivative along the gradient: finite difference %.5g, |g| %.5g", fd, norm)
	}
	t.Logf("finite difference %.5g, |g| %.5g", fd, norm)
}

// TestFastMatchesStock: every model built with host/ops gives the same
// loss, logits, gradient and batch-norm running statistics as with
// Gorgonia's operators (and this package's batch norm), in a training step
// and in an evaluation pass after it. LeNet's and the MLP's gradients are
// compared element by element. The batch-norm models' gradients are
// compared tensor by tensor, ‖fast − stock‖ ≤ gAbs·√n + gNorm·‖stock‖:
// their ReLUs sit behind batch norms of a few values per channel (VGG16's
// last block normalises 12 at batch 3), so one ReLU input near 0 can fall
// on either side of the kink depending on how the convolutions round
// (im2col + OpenBLAS against Gorgonia's im2col + gonum, and each CPU's
// OpenBLAS kernels round differently), and every gradient upstream of it
// moves together. Measured for VGG16 on a Zen 3 machine: with OpenBLAS's
// Sandybridge kernels the two agree to 7e-6 of the gradient's norm; with
// its Haswell and Prescott kernels the tensors from bn12 up differ by
// 3e-3 to 5.5e-3 of their norms (elements by up to 14%) while those
// downstream still agree to 1e-5. A wiring mistake moves a tensor by far
// more than gNorm. The bias gradients of the convolutions that feed a
// batch norm are 0 up to rounding (the norm removes them), so gAbs, not
// gNorm, bounds them.
func TestFastMatchesStock(t *testing.T) {
	for _, c := range []struct {
		name            string
		batch           int
		logitTol, gAbs  float64
		gRel, gNorm     float64 // element-wise, or per tensor when gNorm > 0
		statsTol        float64
		skipInShortMode bool
	}{
		{"lenet", 5, 1e-5, 1e-5, 1e-3, 0, 0, false},
		{"mlp", 5, 1e-5, 1e-5, 1e-3, 0, 0, false},
		{"resnet18", 3, 2e-5, 2e-5, 0, 2e-2, 1e-5, true},
		{"vgg16", 3, 2e-5, 2e-5, 0, 2e-2, 1e-5, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.skipInShortMode {
				t.Skip("short: big model")
			}
			in := Input{3, 32, 32, 10}
			labels := []int{1, 2, 3, 4, 5}[:c.batch]
			var losses [2]float64
			var grads, logits, evals, stats [2][]float32
			var tensors []Tensor // the parameter layout, the same for both builds
			for k, fast := range []bool{false, true} {
				m, params, st := newInitOpts(t, c.name, in, 3, Options{Fast: fast})
				tensors = m.params
				if m.FastOps() != fast {
					t.Fatalf("FastOps() = %v with Options.Fast %v", m.FastOps(), fast)
				}
				net, err := m.NewNet(params, st, c.batch, Train, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer net.Close()
				ev, err := m.NewNet(params, st, c.batch, Eval, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer ev.Close()
				fillInput(net.Input(), 8)
				copy(ev.Input(), net.Input())
				grads[k] = make([]float32, m.NumParams())
				if losses[k], err = net.TrainStep(labels, 0, grads[k]); err != nil {
					t.Fatal(err)
				}
				logits[k] = append([]float32(nil), net.Logits()...)
				if err := ev.Forward(); err != nil {
					t.Fatal(err)
				}
				evals[k] = append([]float32(nil), ev.Logits()...)
				stats[k] = append([]float32(nil), st...)
			}
			if math.Abs(losses[0]-losses[1]) > c.logitTol {
				t.Errorf("loss %v stock, %v fast", losses[0], losses[1])
			}
			for i := range logits[0] {
				if math.Abs(float64(logits[0][i]-logits[1][i])) > c.logitTol*(1+math.Abs(float64(logits[0][i]))) {
					t.Fatalf("training logit %d: %v stock, %v fast", i, logits[0][i], logits[1][i])
				}
				if math.Abs(float64(evals[0][i]-evals[1][i])) > c.logitTol*(1+math.Abs(float64(evals[0][i]))) {
					t.Fatalf("evaluation logit %d: %v stock, %v fast", i, evals[0][i], evals[1][i])
				}
			}
			for i := range stats[0] {
				if d := math.Abs(float64(stats[0][i] - stats[1][i])); d > c.statsTol*(1+math.Abs(float64(stats[0][i]))) {
					t.Fatalf("running statistic %d: %v stock, %v fast", i, stats[0][i], stats[1][i])
				}
			}
			var worst float64
			if c.gNorm > 0 {
				for _, p := range tensors {
					ref, got := grads[0][p.Offset:p.Offset+p.Size], grads[1][p.Offset:p.Offset+p.Size]
					d, norm := l2Diff(ref, got), l2Diff(ref, nil)
					tol := c.gAbs*math.Sqrt(float64(p.Size)) + c.gNorm*norm
					if d > tol {
						t.Fatalf("gradient of %s: ‖fast − stock‖ = %.3g, ‖stock‖ = %.3g", p.Name, d, norm)
					}
					worst = math.Max(worst, d/tol)
				}
			} else {
				for i := range grads[0] {
					d := math.Abs(float64(grads[0][i] - grads[1][i]))
					if d > c.gAbs+c.gRel*math.Abs(float64(grads[0][i])) {
						t.Fatalf("gradient %d: %v stock, %v fast", i, grads[0][i], grads[1][i])
					}
					worst = math.Max(worst, d/(c.gAbs+c.gRel*math.Abs(float64(grads[0][i]))))
				}
			}
			t.Logf("loss %.7f stock, %.7f fast; worst gradient difference %.2g of the tolerance", losses[0], losses[1], worst)
		})
	}
}

// TestFastMLPSkipsInputGradient: on the fast path the flattened images are
// a graph input, so the MLP's first dense layer computes no input gradient
// (a (B, 3072) product the step does not need).
func TestFastMLPSkipsInputGradient(t *testing.T) {
	for _, c := range []struct {
		name string
		want int // dense layers that compute an input gradient
	}{{"mlp", 2}, {"lenet", 3}} {
		m, params, stats := newInitOpts(t, c.name, Input{3, 32, 32, 10}, 1, Options{Fast: true})
		net, err := m.NewNet(params, stats, 4, Train, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, n := range net.g.AllNodes() {
			if n.Op() != nil && n.Op().String() == "ops.Dense.dx" {
				got++
			}
		}
		if got != c.want {
			t.Errorf("%s: %d dense input gradients, want %d", c.name, got, c.want)
		}
		net.Close()
	}
}

// l2Diff is ‖a − b‖ in float64; a nil b gives ‖a‖.
func l2Diff(a, b []float32) float64 {
	var s float64
	for i, x := range a {
		d := float64(x)
		if b != nil {
			d -= float64(b[i])
		}
		s += d * d
	}
	return math.Sqrt(s)
}
