// Command tune runs studies: goptuna searches optimizer hyperparameters by
// training models with optimizer plugins, and every trial, curve and
// metric goes into the result store.
//
//	tune --study gamma-sweep                      # the default (minutes) budget
//	tune --study gamma-sweep --budget paper --workers 2 --storage postgres://...
//	tune --study my-study.yaml --trials 10 --set epochs=3 --set lr=0.05
//	tune studies                                  # the shipped studies
//	tune plugins                                  # the optimizer plugins found
//
// Exit status: 0 done, 1 a failure while running, 2 bad input (nothing
// was written to the store), 3 the study is not complete yet (trials still
// RUNNING under live workers elsewhere, or queued: rerun later), 4 every
// trial of this call failed, 130 interrupted (Ctrl-C; rerun to resume).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/search"
	"github.com/lrsgd-lab/lrsgd/search/runner"
	"github.com/lrsgd-lab/lrsgd/search/study"
)

type options struct {
	study      string
	storage    string
	trials     int
	workers    int
	sampler    string
	seed       int64
	seedSet    bool
	sets       []string
	dataDir    string
	pluginsDir string
	manifest   string
	budget     string
	heartbeat  time.Duration
	staleAfter time.Duration
	checkpoint string
	storeRetry time.Duration
	noProgress bool
	verbose    bool
	dryRun     bool
}

func main() { cli.Main(newRoot) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var o options
	root := &cobra.Command{
		Use:   "tune --study NAME|FILE.yaml [flags]",
		Short: "Run or resume a hyperparameter study of the LRSGD optimizers",
		Long: `tune runs or resumes a study: goptuna samples each trial's hyperparameters, the
trainer trains the study's model with the optimizer plugin, and every trial,
learning curve, metric and run's metadata goes into the result store. The same
study name on the same storage resumes; several tune processes may share one
storage. Ctrl-C stops the running trials at their next step (FAIL, reason
"interrupted", parameters re-queued); rerun the same command to resume.

--set keys: ` + study.SetKeys() + `.

Exit status: 0 done, 1 failure while running, 2 bad input (nothing written),
3 the study is not complete yet (trials still RUNNING under live workers, or
queued: rerun later), 4 every trial of this call failed, 130 interrupted.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.seedSet = cmd.Flags().Changed("seed")
			if o.study == "" {
				return cli.Bad("--study is required (a shipped study — see `tune studies` — or a .yaml file)")
			}
			err := tune(cmd.Context(), o, stdout, stderr)
			if errors.Is(err, search.ErrInterrupted) {
				return fmt.Errorf("%w: the running trials were marked FAIL (interrupted) and re-queued; rerun the same command to resume", cli.ErrInterrupted)
			}
			return err
		},
	}
	f := root.Flags()
	f.StringVar(&o.study, "study", "", "study name (see `tune studies`) or path to a study .yaml file")
	f.StringVar(&o.storage, "storage", "", "result store DSN: a SQLite path or postgres://... (default $"+results.EnvStorage+", else "+results.DefaultSQLiteFile+")")
	f.IntVar(&o.trials, "trials", 0, "run this many more trials in this call, shared among the workers (default: until the study has its own number)")
	f.IntVar(&o.workers, "workers", search.DefaultWorkers, "trials run at once in this process")
	f.StringVar(&o.sampler, "sampler", "", "sampler: tpe, random, cmaes or grid (default: the study's)")
	f.Int64Var(&o.seed, "seed", 0, "sampler seed (default: the study's)")
	f.StringArrayVar(&o.sets, "set", nil, "override a study field, key=value (repeatable)")
	f.StringVar(&o.dataDir, "data-dir", "", "folder with the data sets (default: $LRSGD_DATA, then the cache)")
	f.StringVar(&o.pluginsDir, "plugins-dir", "", "optimizer plugin folder (default $"+loader.EnvDir+", else "+loader.DefaultDir+")")
	f.StringVar(&o.manifest, "plugin-manifest", "", "sha256 manifest pinning the plugins (default $"+loader.EnvManifest+")")
	f.DurationVar(&rpcTimeout, "rpc-timeout", 0, rpcTimeoutUsage)
	f.StringVar(&o.budget, "budget", "", "budget: default (minutes on a 2-core CPU), cpu (all of CIFAR-10, converging, about 3 hours on a 2-core CPU), paper (the paper's protocol), or another the study defines")
	f.DurationVar(&o.heartbeat, "heartbeat", search.DefaultHeartbeat, "heartbeat period of a running trial")
	f.DurationVar(&o.staleAfter, "stale-after", search.DefaultStaleAfter, "a RUNNING trial without a heartbeat for this long is taken for dead and re-queued (at once when its process on this machine is gone); at least 3 heartbeats")
	f.DurationVar(&o.storeRetry, "store-retry", search.DefaultStoreRetry, "how long to retry an operation while the store cannot be reached")
	f.StringVar(&o.checkpoint, "checkpoint-dir", "", "folder for the running trials' checkpoints (default: beside a SQLite store, inside a PostgreSQL one; \"none\" turns them off)")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar on stderr")
	f.BoolVar(&o.verbose, "verbose", false, "log plugin and trainer messages")
	f.BoolVar(&o.dryRun, "dry-run", false, "check the study against the plugins, print it resolved with its grid, and stop (the store is not opened)")

	root.AddCommand(studiesCommand(stdout), pluginsCommand(stdout), deleteCommand(stdout))
	root.SetOut(stdout)
	return root
}

// loaderOptions are the plugin loader's options from the flags: the
// plugin folder, the manifest, the deadline of each plugin call (0: the
// loader's default) and the log level.
func loaderOptions(dir, manifest string, timeout time.Duration, verbose bool) loader.Options {
	level := hclog.Warn
	if verbose {
		level = hclog.Debug
	}
	return loader.Options{
		Dir:        loader.ResolveDir(dir),
		Manifest:   loader.ResolveManifest(manifest),
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: level, Output: os.Stderr}),
		RPCTimeout: timeout,
	}
}

// resolveStudy loads the study and applies the budget, the sampler and
// seed flags and the --set overrides.
func resolveStudy(o options) (*study.Study, error) {
	s, err := study.Load(o.study)
	if err != nil {
		return nil, err
	}
	var sets []string
	if o.sampler != "" {
		sets = append(sets, "sampler="+o.sampler)
	}
	if o.seedSet {
		sets = append(sets, fmt.Sprintf("sampler_seed=%d", o.seed))
	}
	budget := o.budget
	for _, kv := range o.sets {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(k) == "budget" {
			budget = strings.TrimSpace(v)
			continue
		}
		sets = append(sets, kv)
	}
	return s.Resolve(budget, sets)
}

// maxWorkers bounds --workers: each worker trains a model at once, with
// its own plugin process and buffers.
const maxWorkers = 64

// Exit statuses of tune beyond the shared ones (see cmd/internal/cli).
const (
	exitIncomplete = 3 // trials are still RUNNING under live workers, or queued: rerun later
	exitAllFailed  = 4 // every trial this call ran failed
)

func tune(ctx context.Context, o options, stdout, stderr io.Writer) error {
	switch {
	case o.workers < 1 || o.workers > maxWorkers:
		return cli.Bad("--workers %d: want 1 to %d (each worker trains one model at once; this machine has %d CPUs)", o.workers, maxWorkers, runtime.NumCPU())
	case o.storeRetry <= 0:
		return cli.Bad("--store-retry %v: want a positive duration", o.storeRetry)
	case o.heartbeat <= 0:
		return cli.Bad("--heartbeat %v: want a positive period", o.heartbeat)
	case o.staleAfter < 3*o.heartbeat:
		return cli.Bad("--stale-after %v: want at least three heartbeats (3 × --heartbeat %v = %v), or live workers would be taken for dead", o.staleAfter, o.heartbeat, 3*o.heartbeat)
	}
	if o.trials < 0 {
		return cli.BadInput{Err: fmt.Errorf("--trials %d: want >= 0", o.trials)}
	}
	s, err := resolveStudy(o)
	if err != nil {
		return cli.BadInput{Err: err}
	}
	// Check the study against the plugins it names, and every combination
	// of hyperparameters it fixes, before anything is written.
	lopts := loaderOptions(o.pluginsDir, o.manifest, rpcTimeout, o.verbose)
	if err := checkStudy(ctx, s, lopts); err != nil {
		return cli.BadInput{Err: fmt.Errorf("study %s: %w", s.Name, err)}
	}
	if o.dryRun {
		return printResolved(stdout, s)
	}
	var bar io.Writer
	if !o.noProgress {
		bar = stderr
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(stderr, "tune: warning: %s\n", w)
	}
	run := runner.New(runner.Options{Loader: lopts, DataProgress: bar})
	if err := run.Preload(ctx, s.Config(study.Assignment{Train: s.Train}, o.dataDir).Data); err != nil {
		if ctx.Err() != nil {
			return search.ErrInterrupted
		}
		return cli.BadInput{Err: fmt.Errorf("study %s: data: %w", s.Name, err)}
	}
	dsn := results.ResolveDSN(o.storage)
	store, err := results.Open(ctx, dsn)
	if err != nil {
		return cli.BadInput{Err: err}
	}
	defer store.Close()

	total, _ := s.Runs()
	fmt.Fprintf(stdout, "study %s (%s, budget %s): %s on %s/%s, %d trials in all, sampler %s, objective %s (%s); store %s\n",
		s.Name, s.Source, orNone(s.Budget), strings.Join(s.OptimizerNames(), ", "), s.Model, s.Dataset, total, s.Sampler,
		s.Objective.Metric, s.Objective.Direction, results.MaskDSN(dsn))

	sum, err := search.Tune(ctx, search.Config{
		Study: s, Store: store, Runner: run, Trials: o.trials, Workers: o.workers,
		DataDir: o.dataDir, PluginsDir: lopts.Dir, Out: stdout, Progress: bar,
		Heartbeat: o.heartbeat, StaleAfter: o.staleAfter, CheckpointDir: o.checkpoint, StoreFile: store.File(), StoreRetry: o.storeRetry,
	})
	if sum.Study != "" {
		search.WriteSummary(stdout, sum, s.Objective.Metric)
	}
	switch {
	case errors.Is(err, search.ErrIncomplete):
		return cli.ExitError{Code: exitIncomplete, Err: err}
	case errors.Is(err, search.ErrAllFailed):
		return cli.ExitError{Code: exitAllFailed, Err: err}
	case errors.Is(err, search.ErrStudySettings):
		return cli.BadInput{Err: err}
	}
	return err
}
