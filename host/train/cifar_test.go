package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
)

// sharedCIFAR finds ../shared/data/cifar-10-batches-bin relative to the
// module root (the folder holding go.mod), or skips.
func sharedCIFAR(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "data", "cifar-10-batches-bin")
	if _, err := os.Stat(filepath.Join(p, "data_batch_1.bin")); err != nil {
		t.Skipf("CIFAR-10 copy not found at %s: %v", p, err)
	}
	return p
}

// TestCIFARShortRun trains LeNet with SGD (momentum 0.9, weight decay
// 1e-4, the reference settings) for one epoch on 20,000 CIFAR-10 training
// images and checks the test loss falls and the test accuracy is far
// above chance (10%).
func TestCIFARShortRun(t *testing.T) {
	dir := sharedCIFAR(t)
	tr, te, err := data.Load(context.Background(), data.Source{Dataset: "cifar10", DataDir: dir,
		TrainSize: 20000, TestSize: 2000, Seed: 1, NoDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Model: "lenet", Train: tr, Test: te, BatchSize: 32, Epochs: 1, Seed: 1,
		Schedule: Schedule{Kind: ScheduleConstant, LR: 0.02}, TrainEvalSize: 1000}
	opt := blocks.NewSGD()
	defer opt.Close()
	trn, err := New(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer trn.Close()
	before, err := trn.Evaluate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := trn.Run(context.Background(), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: test loss %.3f acc %.3f; after 1 epoch (%d steps): test loss %.3f acc %.3f, train loss %.3f, step %.1f ms median, %.1f s",
		before.TestLoss, before.TestAcc, res.GradEvals, res.TestLoss, res.TestAccuracy, res.TrainLoss, res.StepMsMedian, res.WallSeconds)
	if res.Status != StatusOK || res.OuterSteps != 625 {
		t.Fatalf("status %q after %d outer steps, want ok after 625", res.Status, res.OuterSteps)
	}
	if !(res.TestLoss < before.TestLoss-0.1) {
		t.Errorf("test loss %.3f after one epoch, %.3f before: want a drop of at least 0.1", res.TestLoss, before.TestLoss)
	}
	if !(res.TestAccuracy > 0.28) {
		t.Errorf("test accuracy %.3f after one epoch, want > 0.28 (chance is 0.10)", res.TestAccuracy)
	}
}
