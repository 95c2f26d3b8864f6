// Package runner is the search.Runner that trains a trial for real: it
// runs the trial's pipeline.Spec (package host/pipeline) with the plugin
// loader's options of the tune process, a live progress bar, and a cache
// that keeps the data set of a study in memory across its trials.
package runner

import (
	"context"
	"io"
	"sync"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/search"
)

// Options configure a Runner.
type Options struct {
	// Loader finds and starts the plugins (Dir, Manifest, Logger,
	// RPCTimeout); a Spec's own Loader.Dir, when set, wins.
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

// Run trains one trial through pipeline.Run.
func (r *Runner) Run(ctx context.Context, spec pipeline.Spec, hooks pipeline.Hooks) (pipeline.Outcome, error) {
	dir := spec.Loader.Dir
	spec.Loader = r.opts.Loader
	if dir != "" {
		spec.Loader.Dir = dir
	}
	hooks.Progress = r.opts.Progress
	hooks.Data = r.data.load
	return pipeline.Run(ctx, spec, hooks)
}

// Preload loads (and caches) the data set src names, so that a missing or
// corrupt data set is reported before a study starts rather than as a
// failed trial each. A CIFAR-10 that is nowhere on disk is downloaded into
// the cache (MD5-checked, progress on Options.DataProgress).
func (r *Runner) Preload(ctx context.Context, src data.Source) error {
	src.Progress = r.opts.DataProgress
	_, _, err := r.data.load(ctx, src)
	return err
}

// dataCache keeps the data sets loaded by earlier trials of the process:
// every trial of a study reads the same subset, and CIFAR-10 takes a
// while to read and validate. Sets are read-only once loaded.
type dataCache struct {
	mu      sync.Mutex
	entries map[data.Source]*dataEntry
}

type dataEntry struct {
	once        sync.Once
	train, test *data.Set
	err         error
}

func (c *dataCache) load(ctx context.Context, src data.Source) (*data.Set, *data.Set, error) {
	key := src
	key.Progress = nil // not part of what is loaded
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[data.Source]*dataEntry{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &dataEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.train, e.test, e.err = data.Load(ctx, src) })
	if e.err != nil {
		c.mu.Lock()
		delete(c.entries, key) // let a later trial retry (e.g. after a cancelled load)
		c.mu.Unlock()
	}
	return e.train, e.test, e.err
}
