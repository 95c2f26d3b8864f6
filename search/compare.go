package search

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/search/grid"
	"github.com/lrsgd-lab/lrsgd/search/study"
)

// Attributes of a compare study's trials.
const (
	// AttrPhase (user and system) is "tune" for a tuning trial, "final"
	// for one of an optimizer's final runs.
	AttrPhase = "phase"
	// AttrTunedFrom (user) on a final run is the number of the tuning
	// trial whose configuration it runs.
	AttrTunedFrom = "tuned_from"
	// studyAttrQueued (system) is set on a compare study once its trials
	// are queued.
	studyAttrQueued = "compare_queued"
)

// Phases of a compare study.
const (
	PhaseTune  = "tune"
	PhaseFinal = "final"
)

// queueCompare queues every trial of a new compare study: for each
// optimizer its tuning trials, then its final runs (whose values are
// chosen when they start, from the best tuning trial of their optimizer).
func (t *tuner) queueCompare() error {
	for i, o := range t.s.Optimizers {
		fixed := map[string]float64{study.OptimizerParam: float64(i)}
		for range t.s.TuningTrials {
			attrs := map[string]string{AttrPhase: PhaseTune, AttrSeedIndex: "0"}
			if err := grid.EnqueuePoint(t.gs, fixed, attrs); err != nil {
				return fmt.Errorf("queue tuning trial of %s: %w", o, err)
			}
		}
		for k := range t.s.FinalSeeds() {
			attrs := map[string]string{AttrPhase: PhaseFinal, AttrSeedIndex: strconv.Itoa(k)}
			if err := grid.EnqueuePoint(t.gs, fixed, attrs); err != nil {
				return fmt.Errorf("queue final run of %s: %w", o, err)
			}
		}
	}
	return t.storage.SetStudySystemAttr(t.gs.ID, studyAttrQueued, "1")
}

// optimizerOf is the optimizer index a queued trial of a compare study is
// for, or −1.
func optimizerOf(tr goptuna.FrozenTrial) int {
	var fixed map[string]float64
	if err := json.Unmarshal([]byte(tr.SystemAttrs[grid.AttrFixedParams]), &fixed); err != nil {
		return -1
	}
	if v, ok := fixed[study.OptimizerParam]; ok {
		return int(v)
	}
	return -1
}

// finalReady reports whether the queued final run w may start: no tuning
// trial of its optimizer is still queued or running.
func finalReady(w goptuna.FrozenTrial, all []goptuna.FrozenTrial) bool {
	o := optimizerOf(w)
	return !slices.ContainsFunc(all, func(tr goptuna.FrozenTrial) bool {
		return tr.SystemAttrs[AttrPhase] == PhaseTune && optimizerOf(tr) == o &&
			(tr.State == goptuna.TrialStateWaiting || tr.State == goptuna.TrialStateRunning)
	})
}

// prepareFinal gives the final run me the values of the best COMPLETE
// tuning trial of its optimizer (by the study's objective; ties to the
// lower number) and returns that trial's number. The choice depends only
// on finished trials, so every process makes the same one.
func (t *tuner) prepareFinal(me goptuna.FrozenTrial) (int, error) {
	id := me.ID
	o := optimizerOf(me)
	all, err := t.storage.GetAllTrials(t.gs.ID)
	if err != nil {
		return -1, fmt.Errorf("list trials: %w", err)
	}
	maximize := t.s.Objective.Direction == "maximize"
	best := -1
	for i, tr := range all {
		if tr.State != goptuna.TrialStateComplete || tr.SystemAttrs[AttrPhase] != PhaseTune || optimizerOf(tr) != o || math.IsNaN(tr.Value) {
			continue
		}
		if best < 0 || (maximize && tr.Value > all[best].Value) || (!maximize && tr.Value < all[best].Value) {
			best = i
		}
	}
	if best < 0 {
		name := "?"
		if o >= 0 && o < len(t.s.Optimizers) {
			name = t.s.Optimizers[o]
		}
		return -1, fmt.Errorf("no tuning trial of %s completed: nothing to run again", name)
	}
	b, err := json.Marshal(all[best].InternalParams)
	if err != nil {
		return -1, err
	}
	if err := t.storage.SetTrialSystemAttr(id, grid.AttrFixedParams, string(b)); err != nil {
		return -1, fmt.Errorf("fix values: %w", err)
	}
	return all[best].Number, nil
}
