package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/host/stability"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/search/record"
)

// filer files the run as a trial of a study with package record. It opens
// the store and creates the trial at the first evaluation, so that input
// refused before the run starts leaves nothing in the store.
type filer struct {
	dsn, study string
	spec       pipeline.Spec
	log        io.Writer
	st         *results.Store
	rec        *record.Trial
}

func (f *filer) open(ctx context.Context) error {
	if f.rec != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), record.Timeout)
	defer cancel()
	st, err := results.Open(ctx, f.dsn)
	if err != nil {
		return fmt.Errorf("--storage: %w", err)
	}
	id, err := record.NewTrial(st, f.study, "test_accuracy")
	if err != nil {
		st.Close()
		return fmt.Errorf("--storage: %w", err)
	}
	f.st = st
	f.rec = &record.Trial{Store: st, ID: id, Objective: "test_accuracy", Env: record.Environment()}
	if err := f.rec.Begin(ctx, f.spec); err != nil {
		return fmt.Errorf("--storage: %w", err)
	}
	return nil
}

func (f *filer) eval(ctx context.Context, e pipeline.Eval) error {
	if err := f.open(ctx); err != nil {
		return err
	}
	return f.rec.OnEval(ctx, e)
}

// finish files the end of the run and returns the trial's ID.
func (f *filer) finish(ctx context.Context, out pipeline.Outcome, runErr error) (int, error) {
	if err := f.open(ctx); err != nil {
		return 0, err
	}
	filed, err := f.rec.Finish(ctx, out, runErr)
	if err != nil {
		return 0, fmt.Errorf("--storage: %w", err)
	}
	fmt.Fprintf(f.log, "train: filed as trial %d of study %s in %s, state %s%s\n", f.rec.ID, f.study, f.st, strings.ToUpper(filed.State.String()), reason(filed.Reason))
	return f.rec.ID, nil
}

func (f *filer) close() {
	if f.st != nil {
		f.st.Close()
	}
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

// output is the JSON line: the run's Result (without its curve) and what
// ran.
type output struct {
	train.Result
	Optimizer        string            `json:"optimizer"`
	OptimizerVersion string            `json:"optimizer_version"`
	Hyperparams      map[string]string `json:"hyperparams"`
	Model            string            `json:"model"`
	Dataset          string            `json:"dataset"`
	TrainSize        int               `json:"train_size"`
	TestSize         int               `json:"test_size"`
	BatchSize        int               `json:"batch_size"`
	Seed             uint64            `json:"seed"`
	FastOps          bool              `json:"fast_ops"`
	TrialID          int               `json:"trial_id,omitempty"`
}

// probeTwin is a twin in the JSON line: which index was replaced by which
// test point, when it was first drawn and when the twins first differed
// (−1: never), and the final comparison.
type probeTwin struct {
	Index         int      `json:"index"`
	TestIndex     int      `json:"test_index"`
	FirstDrawn    int64    `json:"first_drawn"`
	FirstDiverged int64    `json:"first_diverged"`
	ParamDiv      *float64 `json:"param_divergence"`
	EpsilonMean   *float64 `json:"epsilon_mean"`
	EpsilonMax    *float64 `json:"epsilon_max"`
}

// jsonLine is the run's JSON object; under the probe it also holds the
// probe's metrics, stability_seed and stability_twins. Non-finite numbers
// of the probe become null.
func jsonLine(out pipeline.Outcome, trialID int) ([]byte, error) {
	cfg := out.Spec.Config
	o := output{Result: out.Result, Optimizer: out.Plugin.Description.Name, OptimizerVersion: out.Plugin.Description.Version,
		Hyperparams: cfg.Hyperparams, Model: cfg.Model, Dataset: cfg.Data.Dataset, TrainSize: out.Data.TrainN,
		TestSize: out.Data.TestN, BatchSize: cfg.BatchSize, Seed: cfg.Seed, FastOps: out.FastOps, TrialID: trialID}
	o.Curve = nil
	b, err := json.Marshal(o)
	if err != nil || out.Probe == nil {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	p := out.Probe
	for k, v := range p.Metrics() {
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("encode result: stability metric %s clashes with a run key", k)
		}
		m[k] = finitePtr(v)
	}
	twins := make([]probeTwin, len(p.Twins))
	for i, tw := range p.Twins {
		twins[i] = probeTwin{Index: tw.Index, TestIndex: tw.TestIndex, FirstDrawn: tw.FirstDrawn, FirstDiverged: tw.FirstDiverged,
			ParamDiv: finitePtr(tw.Final.ParamDivergence), EpsilonMean: finitePtr(tw.Final.EpsilonMean), EpsilonMax: finitePtr(tw.Final.EpsilonMax)}
	}
	m["stability_seed"], m["stability_twins"] = out.Spec.Stability.Seed, twins
	return json.Marshal(m)
}

// finitePtr returns &v, or nil for NaN and ±Inf (which JSON cannot hold).
func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func probeBanner(w io.Writer, spec pipeline.Spec) {
	k, runs := spec.Stability.Replace, spec.Stability.Replace+1
	what := fmt.Sprintf("K = %d replaced training indices", k)
	if k == 0 {
		what, runs = "control: K = 0, twins on identical data", 2
	}
	fmt.Fprintf(w, "stability probe (%s, seed %d): %d runs of %s, each its own plugin process\n", what, spec.Stability.Seed, runs, spec.Config.Optimizer)
}

func probeLine(w io.Writer, p stability.Point) {
	fmt.Fprintf(w, "stability: %d grad evals, %d outer steps: ‖w − v‖ %.6g (max %.6g), ε mean %.6g max %.6g, gap S %.4f S′ %.4f\n",
		p.GradEvals, p.OuterSteps, p.ParamDivergence, p.ParamDivergenceMax, p.EpsilonMean, p.EpsilonMax, p.GapS, p.GapSPrime)
}

func summary(w io.Writer, out pipeline.Outcome) {
	r, cfg := out.Result, out.Spec.Config
	fmt.Fprintf(w, "\n%s on %s (%d train / %d test), %s %v, batch %d, seed %d: %s\n",
		cfg.Model, cfg.Data.Dataset, out.Data.TrainN, out.Data.TestN, out.Plugin.Description.Name, hpString(cfg.Hyperparams), cfg.BatchSize, cfg.Seed, r.Status)
	if r.Status == train.StatusDiverged {
		fmt.Fprintf(w, "  diverged at gradient evaluation %d\n", r.DivergedAt)
	}
	fmt.Fprintf(w, "  test accuracy %.2f%% (best %.2f%%), test loss %.4f, train loss %.4f, train accuracy %.2f%%\n",
		100*r.TestAccuracy, 100*r.BestTestAccuracy, r.TestLoss, r.TrainLoss, 100*r.TrainAccuracy)
	hit := "never (train loss stayed above the threshold)"
	if r.HittingTimeOuter >= 0 {
		hit = fmt.Sprintf("%d outer steps / %d gradient evaluations", r.HittingTimeOuter, r.HittingTimeGrads)
	}
	fmt.Fprintf(w, "  generalization gap %.4f; hitting time %s\n", r.GeneralizationGap, hit)
	fmt.Fprintf(w, "  %d outer steps (%.2f epochs), %d gradient evaluations; step %.2f ms median; %.1f s wall\n",
		r.OuterSteps, r.Epochs, r.GradEvals, r.StepMsMedian, r.WallSeconds)
	if out.Probe != nil {
		fmt.Fprint(w, out.Probe.Summary())
	}
}

func hpString(hp map[string]string) string {
	if len(hp) == 0 {
		return "(defaults)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(hp)) {
		parts = append(parts, k+"="+hp[k])
	}
	return strings.Join(parts, " ")
}

// writeCurve writes the evaluations as CSV (a .csv name) or as a JSON
// array. Under the probe every evaluation also carries param_divergence,
// epsilon_mean and epsilon_max (empty in CSV, absent in JSON, where the
// probe made no comparison).
func writeCurve(path string, evals []pipeline.Eval) error {
	probed := slices.ContainsFunc(evals, func(e pipeline.Eval) bool { return e.Probe != nil })
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--curve: %w", err)
	}
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		err = writeCSV(f, evals, probed)
	} else {
		err = writeJSON(f, evals)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--curve %s: %w", path, err)
	}
	return nil
}

func writeCSV(f io.Writer, evals []pipeline.Eval, probed bool) error {
	w := csv.NewWriter(f)
	head := []string{"epoch", "outer_steps", "grad_evals", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "wall_seconds"}
	if probed {
		head = append(head, "param_divergence", "epsilon_mean", "epsilon_max")
	}
	w.Write(head)
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, e := range evals {
		p := e.EvalPoint
		row := []string{g(p.Epoch), strconv.FormatInt(p.OuterSteps, 10), strconv.FormatInt(p.GradEvals, 10), g(p.LR),
			g(p.TrainLoss), g(p.TrainAcc), g(p.TestLoss), g(p.TestAcc), g(p.Wall)}
		switch {
		case e.Probe != nil:
			row = append(row, g(e.Probe.ParamDivergence), g(e.Probe.EpsilonMean), g(e.Probe.EpsilonMax))
		case probed:
			row = append(row, "", "", "")
		}
		w.Write(row)
	}
	w.Flush()
	return w.Error()
}

func writeJSON(f io.Writer, evals []pipeline.Eval) error {
	type point struct {
		train.EvalPoint
		ParamDivergence *float64 `json:"param_divergence,omitempty"`
		EpsilonMean     *float64 `json:"epsilon_mean,omitempty"`
		EpsilonMax      *float64 `json:"epsilon_max,omitempty"`
	}
	pts := make([]point, len(evals))
	for i, e := range evals {
		pts[i].EvalPoint = e.EvalPoint
		if q := e.Probe; q != nil {
			pts[i].ParamDivergence, pts[i].EpsilonMean, pts[i].EpsilonMax = finitePtr(q.ParamDivergence), finitePtr(q.EpsilonMean), finitePtr(q.EpsilonMax)
		}
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	return enc.Encode(pts)
}
