package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFastOpsTrainLikeGorgonia trains the trainer's LeNet and MLP (batch 8,
// 20 steps of SGD with momentum 0.9, cycling over 4 synthetic batches)
// twice from the same weights and data, once with Gorgonia's ops and once
// with host/ops, and requires the same loss curve to 1e-4 relative, and a
// falling loss (mean of the last 4 steps below 0.95× the mean of the first
// 4).
func TestFastOpsTrainLikeGorgonia(t *testing.T) {
	for _, c := range []struct {
		name string
		lr   float32
	}{{"lenet", 0.05}, {"mlp", 0.003}} {
		t.Run(c.name, func(t *testing.T) {
			const batch, steps = 8, 20
			curves := make([][]float64, 2)
			for k, fast := range []bool{false, true} {
				net, err := New(c.name, batch, fast, 42)
				if err != nil {
					t.Fatal(err)
				}
				r := rand.New(rand.NewPCG(9, 9))
				var xs [][]float32
				var ls [][]int
				for range 4 {
					x, labels := SyntheticBatch(r, net.InputSize(), batch)
					xs, ls = append(xs, x), append(ls, labels)
				}
				for s := 0; s < steps; s++ {
					if err := net.SetBatch(xs[s%4], ls[s%4]); err != nil {
						t.Fatal(err)
					}
					loss, err := net.Step(c.lr, 0.9)
					if err != nil {
						t.Fatal(err)
					}
					curves[k] = append(curves[k], loss)
				}
				net.Close()
			}
			for s := range curves[0] {
				ref, got := curves[0][s], curves[1][s]
				if math.Abs(got-ref) > 1e-4*math.Abs(ref) {
					t.Fatalf("step %d: loss %v with host/ops, %v with Gorgonia's ops (curves %v vs %v)", s, got, ref, curves[1], curves[0])
				}
			}
			mean := func(x []float64) float64 { return (x[0] + x[1] + x[2] + x[3]) / 4 }
			if first, last := mean(curves[1][:4]), mean(curves[1][steps-4:]); !(last < 0.95*first) {
				t.Fatalf("loss did not fall over %d steps: %v", steps, curves[1])
			}
			t.Logf("stock %v", curves[0])
			t.Logf("fast  %v", curves[1])
		})
	}
}
