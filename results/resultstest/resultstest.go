// Package resultstest fills a result store with a small, fully known study,
// the way tune would: through goptuna's API (study, sampled parameters,
// intermediate values, states, user attributes) plus the results tables
// (curves, metrics, run metadata, heartbeats). Tests of reports and figures
// use it; the expected fronts and best trials are stated beside the data.
package resultstest

import (
	"context"
	"errors"
	"fmt"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results"
)

// StudyName is the name of the study Fill creates.
const StudyName = "fixture-sweep"

// Row is the known outcome of one trial of the fixture.
type Row struct {
	State       goptuna.TrialState
	Value       float64 // objective (COMPLETE only)
	Hitting     float64 // hitting_time_grads, −1 = never
	Gap         float64 // generalization_gap
	Accuracy    float64 // test_accuracy
	EpsilonMean float64 // 0 = not measured
	Divergence  float64 // final param_divergence, 0 = not measured
	Plugin      string
}

// Rows returns the fixture's trials by number. Expected results, by hand:
//
//   - Pareto front of (hitting, gap): #0 (1000, 0.5), #1 (2000, 0.2),
//     #2 (5000, 0.1) and #4 (never, 0.05); #3 (3000, 0.3) is dominated
//     by #1.
//   - Knee: over #0..#2, normalised x = 0, 0.25, 1 and y = 1, 0.25, 0;
//     distances (1−x−y)/√2 = 0, 0.354, 0: #1.
//   - Epsilon front of (hitting, epsilon_mean) over #0..#3: #0, #1, #2
//     (#3 (3000, 0.03) is dominated by #1 (2000, 0.02)); normalised
//     y = 1, 1/3, 0, so the knee is #1 again.
//   - Best objective (MINIMIZE): #2 (0.7). Best test accuracy: #2 (0.76).
//   - #5 is PRUNED (two intermediate values, last 1.5), #6 FAIL with a
//     fail_reason user attribute, #7 RUNNING with a heartbeat.
func Rows() []Row {
	return []Row{
		{goptuna.TrialStateComplete, 0.9, 1000, 0.5, 0.70, 0.04, 0.8, "sgd"},
		{goptuna.TrialStateComplete, 0.8, 2000, 0.2, 0.74, 0.02, 0.4, "lrsgd-r"},
		{goptuna.TrialStateComplete, 0.7, 5000, 0.1, 0.76, 0.01, 0.2, "lrsgd-c"},
		{goptuna.TrialStateComplete, 0.85, 3000, 0.3, 0.72, 0.03, 0, "lrsgd-r"},
		{goptuna.TrialStateComplete, 1.2, -1, 0.05, 0.60, 0, 0, "lrsgd-r"},
		{State: goptuna.TrialStatePruned, Plugin: "lrsgd-r"},
		{State: goptuna.TrialStateFail, Plugin: "lrsgd-r"},
	}
}

// Expected trial numbers for Rows (see Rows for the hand computation).
const (
	WantKnee         = 1
	WantEpsilonKnee  = 1
	WantBest         = 2
	WantBestAccuracy = 2
)

// WantFront returns the trial numbers on the (hitting, gap) front, in
// front order.
func WantFront() []int { return []int{0, 1, 2, 4} }

// WantEpsilonFront returns the trial numbers on the (hitting,
// epsilon_mean) front, in front order.
func WantEpsilonFront() []int { return []int{0, 1, 2} }

// CurvePoints is the number of curve points each COMPLETE trial gets.
const CurvePoints = 4

// FailReason is what the FAIL trial's objective returns.
const FailReason = "diverged: loss is NaN at gradient evaluation 120"

// Fill creates the fixture study in s: the trials of Rows (numbers 0..6)
// run through goptuna's Optimize with a seeded random sampler over
// gamma (log-uniform), inner_steps (int) and optimizer (categorical), and
// one more RUNNING trial (number 7) with a heartbeat. It returns the study
// ID.
func Fill(ctx context.Context, s *results.Store) (int, error) {
	study, err := goptuna.CreateStudy(StudyName,
		goptuna.StudyOptionStorage(s.Storage()),
		goptuna.StudyOptionSampler(goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(7))),
		goptuna.StudyOptionDirection(goptuna.StudyDirectionMinimize),
		goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionIgnoreError(true),
	)
	if err != nil {
		return 0, fmt.Errorf("create study: %w", err)
	}
	if err := study.SetUserAttr("budget", "tiny"); err != nil {
		return 0, err
	}
	rows := Rows()
	var fillErr error
	objective := func(trial goptuna.Trial) (float64, error) {
		n, err := trial.Number()
		if err != nil {
			fillErr = err
			return 0, err
		}
		if _, err := trial.SuggestLogFloat("gamma", 0.05, 0.5); err != nil {
			fillErr = err
			return 0, err
		}
		if _, err := trial.SuggestInt("inner_steps", 1, 20); err != nil {
			fillErr = err
			return 0, err
		}
		if _, err := trial.SuggestCategorical("optimizer", []string{"lrsgd-r", "lrsgd-c", "sgd"}); err != nil {
			fillErr = err
			return 0, err
		}
		row := rows[n]
		if err := fillTrial(ctx, s, trial, n, row); err != nil {
			fillErr = err
			return 0, err
		}
		switch row.State {
		case goptuna.TrialStatePruned:
			return 0, goptuna.ErrTrialPruned
		case goptuna.TrialStateFail:
			return 0, errors.New(FailReason)
		}
		return row.Value, nil
	}
	if err := study.Optimize(objective, len(rows)); err != nil {
		return 0, fmt.Errorf("optimize: %w", err)
	}
	if fillErr != nil {
		return 0, fillErr
	}
	id, err := s.Storage().CreateNewTrial(study.ID)
	if err != nil {
		return 0, err
	}
	if err := s.Heartbeat(ctx, id, "worker-7"); err != nil {
		return 0, err
	}
	return study.ID, nil
}

func fillTrial(ctx context.Context, s *results.Store, trial goptuna.Trial, n int, row Row) error {
	st := s.Storage()
	if err := trial.SetUserAttr("worker", fmt.Sprintf("w%d", n%2)); err != nil {
		return err
	}
	if err := s.Heartbeat(ctx, trial.ID, fmt.Sprintf("w%d", n%2)); err != nil {
		return err
	}
	if err := s.PutRunMeta(ctx, results.RunMeta{TrialID: trial.ID, Plugin: row.Plugin, PluginVersion: "0.1.0",
		Dataset: "synthetic", Model: "lenet", Seed: uint64(100 + n), Commit: "abc123", Machine: "test",
		GoVersion: "go1.26.8", BLAS: "openblas", Extra: map[string]string{"batch": "512"}}); err != nil {
		return err
	}
	if err := s.PutHyperparams(ctx, trial.ID, map[string]string{"preset": "reference", "lambda_coef": "0.01"}); err != nil {
		return err
	}
	switch row.State {
	case goptuna.TrialStatePruned:
		for step, v := range []float64{2.0, 1.5} {
			if err := st.SetTrialIntermediateValue(trial.ID, step, v); err != nil {
				return err
			}
		}
		return trial.SetUserAttr("pruned_reason", "median pruner at epoch 1")
	case goptuna.TrialStateFail:
		return trial.SetUserAttr("fail_reason", FailReason)
	}
	var pts []results.CurvePoint
	for i := range CurvePoints {
		p := results.CurvePoint{TrialID: trial.ID, Epoch: float64(i), OuterSteps: int64(10 * i),
			GradEvals: int64(100 * i), LR: 0.1, TrainLoss: 2.3 / float64(i+1), TrainAcc: 0.1 * float64(i+1),
			TestLoss: 2.3/float64(i+1) + row.Gap*float64(i)/CurvePoints, TestAcc: 0.1 * float64(i+1), Wall: float64(i)}
		if row.Divergence > 0 {
			d := row.Divergence * float64(i) / (CurvePoints - 1)
			e := row.EpsilonMean * float64(i) / (CurvePoints - 1)
			p.ParamDivergence, p.EpsilonMean, p.EpsilonMax = &d, &e, &e
		}
		pts = append(pts, p)
		if err := st.SetTrialIntermediateValue(trial.ID, i, p.TestLoss); err != nil {
			return err
		}
	}
	if err := s.AddCurvePoints(ctx, pts...); err != nil {
		return err
	}
	m := map[string]float64{
		metrics.HittingTimeGrads:  row.Hitting,
		metrics.GeneralizationGap: row.Gap,
		metrics.TestAccuracy:      row.Accuracy,
		metrics.TestLoss:          0.5 + row.Gap,
		metrics.TrainLoss:         0.5,
	}
	if row.EpsilonMean > 0 {
		m[metrics.EpsilonMean] = row.EpsilonMean
		m[metrics.EpsilonMax] = 2 * row.EpsilonMean
	}
	if row.Divergence > 0 {
		m[metrics.ParamDivergence] = row.Divergence
	}
	return s.PutMetrics(ctx, trial.ID, m)
}
