package search

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lrsgd-lab/lrsgd/search/study"
)

const compareYAML = `
name: cmp
kind: compare
optimizers: [sgd, lrsgd-r]
baseline: sgd
tuning_trials: 3
seeds: 2
model: lenet
dataset: synthetic
train: {epochs: 1, batch_size: 32, train_size: 64, test_size: 32, schedule: {kind: constant, lr: 0.1}, eval_every: 1, hit_threshold: 2, seed: 5}
space:
  - {name: gamma, type: log-float, low: 0.05, high: 0.5, optimizers: [lrsgd-r]}
  - {name: momentum, type: float, low: 0, high: 0.9, optimizers: [sgd]}
objective: {metric: test_accuracy}
sampler: random
seed: 3
`

// TestCompareStudy: every optimizer gets its tuning trials, then its final
// runs repeat its best tuning configuration with fresh seeds.
func TestCompareStudy(t *testing.T) {
	s, err := study.Parse([]byte(compareYAML), "cmp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	fr := &fakeRunner{}
	sum, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: fr})
	if err != nil {
		t.Fatal(err)
	}
	if n := sum.Counts["COMPLETE"]; n != 2*(3+2) {
		t.Fatalf("counts %v, want 10 COMPLETE", sum.Counts)
	}
	trials := trialsOf(t, st, "cmp")
	best := map[string]int{}          // optimizer → number of its best tuning trial
	bestValue := map[string]float64{} // and its value
	for _, tr := range trials {
		if tr.UserAttrs[AttrPhase] != PhaseTune {
			continue
		}
		o := tr.UserAttrs[AttrOptimizer]
		if n, ok := best[o]; !ok || *tr.Value > bestValue[o] || (*tr.Value == bestValue[o] && tr.Number < n) {
			best[o], bestValue[o] = tr.Number, *tr.Value
		}
	}
	perPhase := map[string]map[string]int{}
	for _, tr := range trials {
		o, ph := tr.UserAttrs[AttrOptimizer], tr.UserAttrs[AttrPhase]
		if perPhase[o] == nil {
			perPhase[o] = map[string]int{}
		}
		perPhase[o][ph]++
		if ph != PhaseFinal {
			continue
		}
		if tr.UserAttrs[AttrTunedFrom] != itoa(best[o]) {
			t.Errorf("final trial %d of %s runs tuning trial %s, want the best, %d", tr.Number, o, tr.UserAttrs[AttrTunedFrom], best[o])
		}
		if tr.Run == nil || tr.Run.Seed < 5+study.FinalSeedOffset {
			t.Errorf("final trial %d: seed %v, want a fresh one (≥ %d)", tr.Number, tr.Run, 5+study.FinalSeedOffset)
		}
	}
	for _, o := range []string{"sgd", "lrsgd-r"} {
		if perPhase[o][PhaseTune] != 3 || perPhase[o][PhaseFinal] != 2 {
			t.Errorf("%s: %v, want 3 tuning trials and 2 final runs", o, perPhase[o])
		}
	}
	// Each run's spec: the final runs of an optimizer share values and
	// differ in seed.
	finals := map[string]map[uint64]string{}
	for _, sp := range fr.specs {
		if sp.Config.Seed < 5+study.FinalSeedOffset {
			continue
		}
		o := sp.Config.Optimizer
		if finals[o] == nil {
			finals[o] = map[uint64]string{}
		}
		finals[o][sp.Config.Seed] = configKey(sp.Config.Hyperparams)
	}
	for o, bySeed := range finals {
		keys := map[string]bool{}
		for _, k := range bySeed {
			keys[k] = true
		}
		if len(bySeed) != 2 || len(keys) != 1 {
			t.Errorf("%s final runs: %v, want 2 seeds of one configuration", o, bySeed)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
