package stability

import (
	"context"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// lenetConfig is a small LeNet run on the synthetic set: 64 training
// images in batches of 8 (8 outer steps an epoch), evaluated every half
// epoch, with augmentation on so that the augmentation draws are coupled
// too.
func lenetConfig(t *testing.T, epochs float64) (train.Config, *data.Set, *data.Set) {
	t.Helper()
	tr, te, err := data.Load(context.Background(), data.Source{Dataset: data.Synthetic, TrainSize: 64, TestSize: 32, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	aug := true
	return train.Config{
		Model: "lenet", Train: tr, Test: te, Epochs: epochs, BatchSize: 8, EvalEvery: 0.5,
		Seed: 21, StreamSeed: 77, Augment: &aug,
		Schedule: train.Schedule{Kind: "constant", LR: 0.05},
	}, tr, te
}

func inProcess(f func() optimizer.Optimizer) OpenOptimizer {
	return func(context.Context) (optimizer.Optimizer, error) { return f(), nil }
}

// TestTrainerControl: twins of the real trainer on identical data stay
// bit-identical at every step (init, stream, augmentation, dropout keys
// and M_t draws all coupled), and the S run's result is a plain run's.
func TestTrainerControl(t *testing.T) {
	for _, c := range []struct {
		name string
		open func() optimizer.Optimizer
	}{{"sgd", blocks.NewSGD}, {"lrsgd-r", blocks.NewLRSGDR}, {"lrsgd-c", blocks.NewLRSGDC}} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, _ := lenetConfig(t, 1)
			var points []Point
			res, err := Probe(context.Background(), cfg, Config{Replace: 0, Parallel: 2}, inProcess(c.open),
				Hooks{OnPoint: func(p Point) error { points = append(points, p); return nil }})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != train.StatusOK || res.Twins[0].FirstDiverged != -1 {
				t.Fatalf("control: status %s, first diverged %d; want ok and never", res.Status, res.Twins[0].FirstDiverged)
			}
			if len(res.Curve) != 2 || len(points) != 2 {
				t.Fatalf("%d curve points (%d via the hook), want 2 (1 epoch, eval every 0.5)", len(res.Curve), len(points))
			}
			for _, p := range res.Curve {
				if p.ParamDivergence != 0 || p.EpsilonMax != 0 || p.GapS != p.GapSPrime {
					t.Errorf("control point %+v, want zeros and equal gaps", p)
				}
			}
			// The S run is the trial: a plain run gives the same curve.
			plain, err := train.Run(context.Background(), cfg, c.open(), train.Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			ref := res.Reference
			if ref == nil || len(ref.Curve) != len(plain.Curve) {
				t.Fatalf("reference curve %v, plain curve %d points", ref, len(plain.Curve))
			}
			for i, p := range plain.Curve {
				q := ref.Curve[i]
				p.Wall, q.Wall = 0, 0
				if p != q {
					t.Errorf("point %d: plain %+v, probe's S run %+v", i, p, q)
				}
			}
			for i, p := range res.Curve {
				if p.GradEvals != ref.Curve[i].GradEvals || p.OuterSteps != ref.Curve[i].OuterSteps {
					t.Errorf("point %d: probe at %d/%d, S run's curve at %d/%d; want aligned", i, p.GradEvals, p.OuterSteps, ref.Curve[i].GradEvals, ref.Curve[i].OuterSteps)
				}
			}
			if res.GradEvals != plain.GradEvals || res.OuterSteps != plain.OuterSteps {
				t.Errorf("probe counts %d/%d, plain %d/%d", res.GradEvals, res.OuterSteps, plain.GradEvals, plain.OuterSteps)
			}
		})
	}
}

// TestTrainerReplacement: with replaced indices, each twin stays
// bit-identical until the first minibatch holding its index (from an
// independent replay of the stream) and differs from then on.
func TestTrainerReplacement(t *testing.T) {
	cfg, tr, te := lenetConfig(t, 1)
	cfg.EvalEvery = 1.0 / 8 // every outer step
	res, err := Probe(context.Background(), cfg, Config{Replace: 2, Seed: 3, Parallel: 2}, inProcess(blocks.NewLRSGDR), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Runs != 3 || len(res.Twins) != 2 {
		t.Fatalf("runs %d, twins %d; want 3 and 2", res.Runs, len(res.Twins))
	}
	for _, tw := range res.Twins {
		st := data.NewStream(tr, cfg.BatchSize, cfg.StreamSeed, true)
		x, y, idx := make([]float32, cfg.BatchSize*tr.ImageSize()), make([]int, cfg.BatchSize), make([]int, cfg.BatchSize)
		want := int64(-1)
		for s := int64(1); s <= res.GradEvals && want < 0; s++ {
			st.Next(x, y, idx)
			if contains(idx, tw.Index) {
				want = s
			}
		}
		if want < 0 {
			t.Fatalf("index %d never drawn in %d steps", tw.Index, res.GradEvals)
		}
		if tw.FirstDrawn != want || tw.FirstDiverged != want {
			t.Errorf("index %d: first drawn %d, first diverged %d; want both %d", tw.Index, tw.FirstDrawn, tw.FirstDiverged, want)
		}
		if tw.TestIndex < 0 || tw.TestIndex >= te.N {
			t.Errorf("test index %d out of range", tw.TestIndex)
		}
		for _, p := range tw.Curve {
			if p.GradEvals < want && p.ParamDivergence != 0 {
				t.Errorf("index %d, %d grads (before %d): divergence %v, want 0", tw.Index, p.GradEvals, want, p.ParamDivergence)
			}
			if p.GradEvals >= want && !(p.ParamDivergence > 0 && p.EpsilonMean > 0) {
				t.Errorf("index %d, %d grads (from %d on): %+v, want positive", tw.Index, p.GradEvals, want, p.Measure)
			}
		}
	}
	m := res.Metrics()
	if m["param_divergence"] != res.ParamDivergence || m["epsilon_max"] != res.EpsilonMax || m["stability_replace"] != 2 || m["stability_runs"] != 3 {
		t.Errorf("metrics %v disagree with the result", m)
	}
	if s := res.Summary(); !strings.Contains(s, "K = 2 replaced") || strings.Count(s, "first drawn at grad") != 2 {
		t.Errorf("summary:\n%s", s)
	}
	if !(res.ParamDivergence > 0 && res.EpsilonMax >= res.EpsilonMean && res.EpsilonMean > 0) {
		t.Errorf("summary %+v, want positive divergence and ε", res)
	}
}

func TestTrainerRejectsCheckpoint(t *testing.T) {
	cfg, _, _ := lenetConfig(t, 1)
	cfg.Checkpoint = t.TempDir() + "/ck"
	_, err := Probe(context.Background(), cfg, Config{Replace: 1}, inProcess(blocks.NewSGD), Hooks{})
	if err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("error %v, want one about checkpoints", err)
	}
}
