package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkStep measures one training step (forward, backward, SGD-momentum
// update) of the trainer's LeNet at batch 128 and 512, its MLP at 128 and
// ResNet18 and VGG16 at 32 and 128, with stock Gorgonia ops and with
// host/ops (select with -bench, e.g. 'Step/resnet18/b32/fast').
func BenchmarkStep(b *testing.B) {
	for _, c := range []struct {
		model string
		batch int
	}{{"lenet", 128}, {"lenet", 512}, {"mlp", 128}, {"resnet18", 32}, {"resnet18", 128}, {"vgg16", 32}, {"vgg16", 128}} {
		for _, ops := range []string{"stock", "fast"} {
			b.Run(fmt.Sprintf("%s/b%d/%s", c.model, c.batch, ops), func(b *testing.B) {
				net, err := New(c.model, c.batch, ops == "fast", 1)
				if err != nil {
					b.Fatal(err)
				}
				defer net.Close()
				x, labels := SyntheticBatch(rand.New(rand.NewPCG(1, 2)), net.InputSize(), c.batch)
				if err := net.SetBatch(x, labels); err != nil {
					b.Fatal(err)
				}
				if _, err := net.Step(0.01, 0.9); err != nil { // allocates the ops' buffers
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, err := net.Step(0.01, 0.9); err != nil {
						b.Fatal(err)
					}
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(sec*1e3, "ms/step")
				b.ReportMetric(net.FLOPs/sec/1e9, "GFLOP/s")
				b.ReportMetric(100*net.FLOPs/sec/1e9/PeakGFLOPS, "%peak")
			})
		}
	}
}
