package search

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// TestSeedsAxis runs a grid of two points and a sampled study, each with
// seeds: 3: every configuration is run three times, as trials of their own
// with the same values, the same config_key, seed indices 0, 1, 2 and
// trainer seeds train.seed, +1, +2.
func TestSeedsAxis(t *testing.T) {
	for _, c := range []struct {
		name    string
		sets    []string
		configs int
	}{
		{"grid", []string{"sampler=grid", "grid={gamma: [0.1, 0.2]}", "seeds=3"}, 2},
		{"random", []string{"sampler=random", "grid={}", "trials=2", "seeds=3"}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
			s := gammaStudy(t, c.sets...)
			fr := &fakeRunner{}
			sum, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: fr, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			trials := trialsOf(t, st, "gamma-sweep")
			if len(trials) != 3*c.configs || sum.Counts["COMPLETE"] != 3*c.configs {
				for _, tr := range trials {
					t.Logf("trial %d: %v sys %v", tr.Number, tr.Params, tr.SystemAttrs)
				}
				t.Fatalf("%d trials, counts %v; want %d COMPLETE", len(trials), sum.Counts, 3*c.configs)
			}
			byConfig := map[string][]int{}
			for _, tr := range trials {
				k, err := strconv.Atoi(tr.SystemAttrs[AttrSeedIndex])
				if err != nil {
					t.Fatalf("trial %d: seed index %q", tr.Number, tr.SystemAttrs[AttrSeedIndex])
				}
				key := tr.UserAttrs[AttrConfig]
				if want := "gamma=" + strconv.FormatFloat(tr.Params["gamma"].(float64), 'g', -1, 64); key != want {
					t.Errorf("trial %d: config_key %q, want %q", tr.Number, key, want)
				}
				if tr.Run == nil || tr.Run.Seed != s.Train.Seed+uint64(k) {
					t.Errorf("trial %d (seed index %d): run seed %v, want %d", tr.Number, k, tr.Run, s.Train.Seed+uint64(k))
				}
				byConfig[key] = append(byConfig[key], k)
			}
			if len(byConfig) != c.configs {
				t.Errorf("%d configurations, want %d: %v", len(byConfig), c.configs, byConfig)
			}
			for key, ks := range byConfig {
				slices.Sort(ks)
				if !slices.Equal(ks, []int{0, 1, 2}) {
					t.Errorf("configuration %s ran seed indices %v, want 0 1 2", key, ks)
				}
			}
			seeds := map[uint64]bool{}
			for _, sp := range fr.specs {
				seeds[sp.Config.Seed] = true
			}
			if len(seeds) != 3 {
				t.Errorf("trainer seeds %v, want 3 distinct", seeds)
			}
		})
	}
}
