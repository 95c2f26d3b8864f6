// Package runner is the search.Runner that trains a trial for real: it
// starts the trial's optimizer plugin through the loader, builds the
// trainer's configuration from the study and the sampled values, and runs
// the trainer, reporting every evaluation back to the search.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lrsgd-lab/lrsgd/host/blas"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/search"
)

// Options configure a Runner.
type Options struct {
	// Loader finds and starts the plugins (Dir, Manifest, Logger, RPCTimeout).
	Loader loader.Options
	// Progress receives each trial's live progress bar (nil = none).
	Progress io.Writer
	// DataProgress receives a data set download's progress bar (nil = none).
	DataProgress io.Writer
}

// Runner trains trials with the plugins and the trainer. It is safe for
// concurrent use: every Run starts its own plugin process.
type Runner struct {
	opts Options
	data dataCache
}

var _ search.Runner = (*Runner)(nil)

// New returns a Runner.
func New(opts Options) *Runner { return &Runner{opts: opts} }

// Run trains one trial.
func (r *Runner) Run(ctx context.Context, spec search.TrialSpec, report func(search.Eval) error) (search.Outcome, error) {
	var out search.Outcome
	lopts := r.opts.Loader
	if spec.PluginsDir != "" {
		lopts.Dir = spec.PluginsDir
	}
	lopts.Dir = loader.ResolveDir(lopts.Dir)
	opt, err := loader.Open(ctx, spec.Optimizer, lopts)
	if err != nil {
		return out, fmt.Errorf("start plugin %s: %w", spec.Optimizer, err)
	}
	defer func() {
		if opt != nil {
			opt.Close()
		}
	}()
	desc, err := opt.Describe(ctx)
	if err != nil {
		return out, fmt.Errorf("plugin %s: describe: %w", spec.Optimizer, err)
	}
	path := filepath.Join(lopts.Dir, spec.Optimizer)
	sum, err := fileSHA256(path)
	if err != nil {
		return out, fmt.Errorf("plugin %s: %w", spec.Optimizer, err)
	}
	out.Meta = results.RunMeta{
		Plugin: desc.Name, PluginVersion: desc.Version, PluginSHA256: sum,
		Dataset: spec.Dataset, Model: spec.Model, Seed: spec.Train.Seed, BLAS: blas.Impl(),
		Extra: map[string]string{"plugin_path": path},
	}
	for k, v := range spec.Hyperparams {
		out.Meta.Extra["hp."+k] = v
	}
	var (
		res   train.Result
		dmeta map[string]string
	)
	if spec.Stability != nil {
		opt.Close() // the probe starts one plugin process per run
		opt = nil
		res, dmeta, out.Metrics, err = r.probe(ctx, spec, lopts, report)
	} else {
		res, dmeta, err = r.trainTrial(ctx, spec, opt, report)
	}
	out.Result = res
	out.Meta.DatasetSHA256 = dmeta["dataset_sha256"]
	for k, v := range dmeta {
		if k != "dataset_sha256" {
			out.Meta.Extra[k] = v
		}
	}
	return out, err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
