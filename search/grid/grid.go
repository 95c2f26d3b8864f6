// Package grid is a grid sampler for goptuna, which has none.
//
// Every grid point must run exactly once, however many workers and
// processes share the study. The sampler coordinates through the storage:
// each point becomes a WAITING trial (goptuna's trial queue) carrying the
// point's values as goptuna's "fixed_params" system attribute and its index
// as "grid_point". A worker claims a waiting trial by moving it from
// WAITING to RUNNING, which goptuna's rdb storage does in one locked
// transaction (SELECT ... FOR UPDATE on PostgreSQL; a write transaction
// under _txlock=immediate on SQLite), so no two workers get the same point.
//
// The points are enqueued once, by the process that creates the study
// ([Enqueue]); a process that joins an existing study waits until the
// study's "grid_enqueued" system attribute says the queue is complete
// ([Wait]). A trial whose worker died is re-queued by the caller with the
// same attributes, so its point still runs once to completion.
//
// [Sampler] implements goptuna.Sampler: for a trial that carries a grid
// point it returns the point's value; for any other trial (the grid is
// used up) it defers to its fallback sampler, or fails with
// [ErrExhausted] when there is none (pure grid search).
package grid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/c-bata/goptuna"
)

// System attribute keys.
const (
	// AttrPoint on a trial is the index of its grid point.
	AttrPoint = "grid_point"
	// AttrFixedParams on a trial is goptuna's own key for enqueued values.
	AttrFixedParams = "fixed_params"
	// AttrEnqueued on the study is the number of grid points enqueued,
	// written once the queue is complete.
	AttrEnqueued = "grid_enqueued"
)

// ErrExhausted is returned by Sample for a trial without a grid point
// when the sampler has no fallback.
var ErrExhausted = errors.New("grid: every grid point has been assigned")

var _ goptuna.Sampler = (*Sampler)(nil)

// Sampler serves grid points. It is safe for concurrent use.
type Sampler struct {
	points   []map[string]float64
	fallback goptuna.Sampler
}

// New returns a sampler over points (goptuna internal values keyed by
// parameter name). fallback samples everything the grid does not cover
// (parameters missing from a point, and trials after the grid); nil makes
// a pure grid sampler.
func New(points []map[string]float64, fallback goptuna.Sampler) *Sampler {
	return &Sampler{points: points, fallback: fallback}
}

// Points returns the number of grid points.
func (s *Sampler) Points() int { return len(s.points) }

// Pure reports whether the sampler has no fallback.
func (s *Sampler) Pure() bool { return s.fallback == nil }

// Sample returns the grid value of paramName for a trial that carries a
// grid point, else the fallback's sample.
func (s *Sampler) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, paramName string, dist any) (float64, error) {
	if raw, ok := trial.SystemAttrs[AttrPoint]; ok {
		i, err := strconv.Atoi(raw)
		if err != nil || i < 0 || i >= len(s.points) {
			return 0, fmt.Errorf("grid: trial %d has grid point %q, the grid has %d points", trial.Number, raw, len(s.points))
		}
		if v, ok := s.points[i][paramName]; ok {
			if !contains(dist, v) {
				return 0, fmt.Errorf("grid: point %d gives %s = %g outside its distribution %#v", i, paramName, v, dist)
			}
			return v, nil
		}
	}
	if s.fallback == nil {
		return 0, fmt.Errorf("%w (trial %d asked for %s)", ErrExhausted, trial.Number, paramName)
	}
	return s.fallback.Sample(study, trial, paramName, dist)
}

func contains(dist any, v float64) bool {
	switch d := dist.(type) {
	case goptuna.UniformDistribution:
		return d.Contains(v)
	case goptuna.LogUniformDistribution:
		return d.Contains(v)
	case goptuna.IntUniformDistribution:
		return d.Contains(v)
	case goptuna.StepIntUniformDistribution:
		return d.Contains(v)
	case goptuna.DiscreteUniformDistribution:
		return d.Contains(v)
	case goptuna.CategoricalDistribution:
		return d.Contains(v)
	}
	return false
}

// Enqueue puts every grid point whose index no trial of the study carries
// yet into goptuna's queue as a WAITING trial, then marks the study's queue
// complete. Only one process may run it at a time: the one that created
// the study (or, in [Wait]'s repair, the one that found the queue
// unfinished long after).
func (s *Sampler) Enqueue(study *goptuna.Study) error {
	have, err := present(study)
	if err != nil {
		return err
	}
	for i, pt := range s.points {
		if have[i] {
			continue
		}
		if err := EnqueuePoint(study, pt, map[string]string{AttrPoint: strconv.Itoa(i)}); err != nil {
			return fmt.Errorf("grid: enqueue point %d: %w", i, err)
		}
	}
	if err := study.Storage.SetStudySystemAttr(study.ID, AttrEnqueued, strconv.Itoa(len(s.points))); err != nil {
		return fmt.Errorf("grid: mark queue complete: %w", err)
	}
	return nil
}

// EnqueuePoint adds a WAITING trial with fixed internal parameter values
// and extra system attributes (goptuna's EnqueueTrial cannot attach
// attributes).
func EnqueuePoint(study *goptuna.Study, internal map[string]float64, attrs map[string]string) error {
	b, err := json.Marshal(internal)
	if err != nil {
		return err
	}
	sys := map[string]string{AttrFixedParams: string(b)}
	for k, v := range attrs {
		sys[k] = v
	}
	_, err = study.Storage.CloneTrial(study.ID, goptuna.FrozenTrial{
		StudyID:            study.ID,
		State:              goptuna.TrialStateWaiting,
		DatetimeStart:      time.Now(),
		IntermediateValues: map[int]float64{},
		InternalParams:     map[string]float64{},
		Params:             map[string]any{},
		Distributions:      map[string]any{},
		UserAttrs:          map[string]string{},
		SystemAttrs:        sys,
	})
	return err
}

// present returns the grid indices that some trial of the study carries.
func present(study *goptuna.Study) (map[int]bool, error) {
	trials, err := study.GetTrials()
	if err != nil {
		return nil, fmt.Errorf("grid: list trials: %w", err)
	}
	have := map[int]bool{}
	for _, t := range trials {
		if raw, ok := t.SystemAttrs[AttrPoint]; ok {
			if i, err := strconv.Atoi(raw); err == nil {
				have[i] = true
			}
		}
	}
	return have, nil
}

// Wait returns once the study's grid queue is complete. A process that
// joins a study another one created calls it: it polls the study's
// AttrEnqueued attribute, and if the creator has not finished after
// patience (it died while enqueueing), enqueues the missing points itself.
func (s *Sampler) Wait(ctx context.Context, study *goptuna.Study, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		attrs, err := study.Storage.GetStudySystemAttrs(study.ID)
		if err != nil {
			return fmt.Errorf("grid: read study attributes: %w", err)
		}
		if raw, ok := attrs[AttrEnqueued]; ok {
			if n, _ := strconv.Atoi(raw); n != len(s.points) {
				return fmt.Errorf("grid: study %d was started with %s grid points, this run has %d: use a new study name or the same grid", study.ID, raw, len(s.points))
			}
			return nil
		}
		if time.Now().After(deadline) {
			return s.Enqueue(study)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
