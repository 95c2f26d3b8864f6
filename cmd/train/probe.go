package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/host/stability"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// probeCmd runs the stability probe (--stability) on the loaded data: the
// run on S, which is the trial (its result is a plain run's), and K twins
// on S with one training sample replaced, each with its own plugin
// process opened like the plain run's. It prints a line per evaluation
// and the summaries to stderr, the JSON line to stdout, and files the S
// run with the probe's metrics and curve in the store.
func probeCmd(ctx context.Context, o options, cfg train.Config, hp map[string]string, desc optimizer.Description,
	lopts loader.Options, stdout, stderr io.Writer) (int, error) {
	k, seed := o.probeReplace(), o.probeSeed()
	switch {
	case k > cfg.Train.N:
		return cli.ExitBadInput, cli.Bad("--replace %d: want at most the training-set size %d", k, cfg.Train.N)
	case k > cfg.Test.N:
		return cli.ExitBadInput, cli.Bad("--replace %d: want at most the test-set size %d (the replacements come from the test set)", k, cfg.Test.N)
	}
	runs := k + 1
	if k == 0 {
		runs = 2
	}
	what := fmt.Sprintf("K = %d replaced training indices", k)
	if k == 0 {
		what = "control: K = 0, twins on identical data"
	}
	fmt.Fprintf(stderr, "stability probe (%s, seed %d): %d runs of %s, each its own plugin process\n", what, seed, runs, desc.Name)

	open := func(ctx context.Context) (optimizer.Optimizer, error) { return loader.Open(ctx, o.optimizer, lopts) }
	var last stability.Point
	hooks := stability.Hooks{OnPoint: func(p stability.Point) error {
		last = p
		fmt.Fprintf(stderr, "stability: %d grad evals, %d outer steps: ‖w − v‖ %.6g (max %.6g), ε mean %.6g max %.6g, gap S %.4f S′ %.4f\n",
			p.GradEvals, p.OuterSteps, p.ParamDivergence, p.ParamDivergenceMax, p.EpsilonMean, p.EpsilonMax, p.GapS, p.GapSPrime)
		return nil
	}}
	res, err := stability.Probe(ctx, cfg, stability.Config{Replace: k, Seed: seed}, open, hooks)
	rec := &probeRecord{res: &res, seed: seed}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "train: interrupted: the stability probe stopped (last evaluation at %d gradient evaluations); no result is final\n", last.GradEvals)
			if o.storage != "" {
				sctx, cancel := storeContext(ctx)
				id, serr := storeInterruptedProbe(sctx, o, hp, desc, cfg, rec)
				cancel()
				if serr != nil {
					return cli.ExitInterrupted, serr
				}
				fmt.Fprintf(stderr, "train: filed as trial %d of study %s, state FAIL (interrupted)\n", id, o.studyName)
			}
			return cli.ExitInterrupted, nil
		}
		if strings.Contains(err.Error(), "train config") {
			return cli.ExitBadInput, cli.BadInput{Err: err}
		}
		return cli.ExitFailure, err
	}
	if res.Reference == nil {
		return cli.ExitFailure, errors.New("stability probe: no result of the run on S")
	}

	out := output{Result: *res.Reference, Optimizer: desc.Name, OptimizerVersion: desc.Version, Hyperparams: hp,
		Model: o.model, Dataset: o.dataset, TrainSize: cfg.Train.N, TestSize: cfg.Test.N,
		BatchSize: o.batch, Seed: o.seed, FastOps: fastOps(o)}
	if o.curve != "" {
		if err := writeCurve(o.curve, out.Curve, alignProbe(out.Curve, res.Curve)); err != nil {
			return cli.ExitFailure, err
		}
	}
	if o.storage != "" {
		sctx, cancel := storeContext(ctx)
		id, err := store(sctx, o, out, desc, cfg, rec)
		cancel()
		if err != nil {
			return cli.ExitFailure, err
		}
		out.TrialID = id
	}
	summary(stderr, out)
	fmt.Fprint(stderr, res.Summary())
	if o.jsonOut {
		b, err := probeJSON(out, res, seed)
		if err != nil {
			return cli.ExitFailure, err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return 0, nil
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

// probeJSON is the JSON line of a probe: the plain run's keys (out, from
// the S run, without its curve) merged with res.Metrics(), plus
// stability_seed and stability_twins. Non-finite numbers become null.
func probeJSON(out output, res stability.Result, seed uint64) ([]byte, error) {
	out.Curve = nil
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	put := func(k string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", k, err)
		}
		m[k] = b
		return nil
	}
	for k, v := range res.Metrics() {
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("encode result: stability metric %s clashes with a run key", k)
		}
		if err := put(k, finitePtr(v)); err != nil {
			return nil, err
		}
	}
	twins := make([]probeTwin, len(res.Twins))
	for i, tw := range res.Twins {
		twins[i] = probeTwin{Index: tw.Index, TestIndex: tw.TestIndex, FirstDrawn: tw.FirstDrawn, FirstDiverged: tw.FirstDiverged,
			ParamDiv: finitePtr(tw.Final.ParamDivergence), EpsilonMean: finitePtr(tw.Final.EpsilonMean), EpsilonMax: finitePtr(tw.Final.EpsilonMax)}
	}
	if err := put("stability_seed", seed); err != nil {
		return nil, err
	}
	if err := put("stability_twins", twins); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}
