package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/cmaes"
	"github.com/c-bata/goptuna/medianstopping"
	"github.com/c-bata/goptuna/successivehalving"
	"github.com/c-bata/goptuna/tpe"
	"gopkg.in/yaml.v3"

	"github.com/lrsgd-lab/lrsgd/internal/owner"
	"github.com/lrsgd-lab/lrsgd/search/grid"
	"github.com/lrsgd-lab/lrsgd/search/record"
	"github.com/lrsgd-lab/lrsgd/search/sampler"
	"github.com/lrsgd-lab/lrsgd/search/study"
)

// Config configures one Tune call.
type Config struct {
	// Study is resolved (budget and overrides applied) and checked against
	// the plugins (study.Check) by the caller.
	Study  *study.Study
	Store  Store
	Runner Runner
	// Trials > 0 runs exactly that many more trials in this call, shared
	// among the workers; 0 runs until the study has its own number of
	// trials (queued ones included).
	Trials int
	// Workers is the number of trials run at once (0 = DefaultWorkers).
	Workers int
	// DataDir and PluginsDir are passed on to the Runner.
	DataDir, PluginsDir string
	// Out receives one line per finished trial (nil = none).
	Out io.Writer
	// Progress receives the overall progress bar (nil = none).
	Progress io.Writer
	// Heartbeat and StaleAfter (0 = the defaults) time the heartbeat.
	Heartbeat, StaleAfter time.Duration
	// JoinPatience is how long a process that joins a study another one is
	// creating waits for it to finish setting the study up (0 = 20 s).
	JoinPatience time.Duration
	// Worker names this process in heartbeats (default host:pid).
	Worker string
	// CheckpointDir is where running trials keep their checkpoints: ""
	// means beside a SQLite store (FILE.checkpoints/) and inside a
	// PostgreSQL one (trial_checkpoints); "none" turns checkpoints off.
	CheckpointDir string
	// StoreFile is the SQLite file of the store, "" for PostgreSQL.
	StoreFile string
	// StoreRetry bounds how long an operation on the store is retried
	// while the store cannot be reached (0 = DefaultStoreRetry).
	StoreRetry time.Duration
}

// TrialReport is one trial that finished in this call.
type TrialReport struct {
	Number  int
	TrialID int
	State   goptuna.TrialState
	Value   float64
	Params  map[string]string
	Reason  string // fail or prune reason
	Metrics map[string]float64
	Wall    time.Duration
}

// Summary is what Tune did.
type Summary struct {
	Study   string
	StudyID int
	Created bool // this call created the study
	// Trials finished in this call, in finishing order.
	Trials []TrialReport
	// Recovered are the numbers of stale trials this call marked FAIL and
	// re-queued.
	Recovered []int
	// Counts of the study's trials by state after the call.
	Counts map[string]int
	// Best is the study's best COMPLETE trial (Number -1 if none).
	Best struct {
		Number int
		Value  float64
		Params map[string]any
	}
}

type tuner struct {
	cfg     Config
	s       *study.Study
	store   Store
	storage goptuna.Storage
	gs      *goptuna.Study
	grid    *grid.Sampler // nil without a grid
	pure    bool          // grid sampler only
	total   int           // the study's own number of trials
	inter   string        // intermediate metric
	worker  string
	env     record.Env
	owner   owner.Owner
	retries int
	ckpt    checkpoints

	mu       sync.Mutex // serialises claims and the fields below
	claimed  int        // trials claimed in this call
	active   map[int]bool
	reports  []TrialReport
	recov    []int
	progress atomic.Pointer[progress] // set once the study is open; logf reads it without t.mu
}

// Tune runs or resumes cfg.Study on cfg.Store. It returns ErrInterrupted
// (with the summary so far) when ctx is cancelled.
func Tune(ctx context.Context, cfg Config) (Summary, error) {
	var sum Summary
	s := cfg.Study
	if s == nil || cfg.Store == nil || cfg.Runner == nil {
		return sum, errors.New("search: Config needs Study, Store and Runner")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.StaleAfter < 3*cfg.Heartbeat {
		return sum, fmt.Errorf("stale-after %v is shorter than three heartbeats (%v): live workers would be taken for dead", cfg.StaleAfter, 3*cfg.Heartbeat)
	}
	if cfg.JoinPatience <= 0 {
		cfg.JoinPatience = 20 * time.Second
	}
	if cfg.Worker == "" {
		host, _ := os.Hostname()
		cfg.Worker = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	total, err := s.Runs()
	if err != nil {
		return sum, err
	}
	points, err := s.GridPoints()
	if err != nil {
		return sum, err
	}
	if cfg.StoreRetry <= 0 {
		cfg.StoreRetry = DefaultStoreRetry
	}
	rt := &retrier{limit: cfg.StoreRetry}
	store := withRetry(cfg.Store, rt)
	t := &tuner{cfg: cfg, s: s, store: store, storage: store.Storage(), total: total,
		inter: intermediateMetric(s), worker: cfg.Worker, active: map[int]bool{}, env: record.Environment(),
		owner: owner.Self(), retries: s.RetryLimit(DefaultRetries)}
	rt.logf = t.logf

	gs, created, err := t.openStudy(ctx, points)
	if err != nil {
		return sum, err
	}
	t.gs = gs
	sum.Study, sum.StudyID, sum.Created = s.Name, gs.ID, created
	if t.ckpt, err = newCheckpoints(cfg, t.store, s); err != nil {
		return sum, err
	}

	if _, err := t.recover(ctx); err != nil {
		return sum, err
	}
	planned, err := t.planned()
	if err != nil {
		return sum, err
	}
	t.progress.Store(newProgress(cfg.Progress, cfg.Out, planned, s.Name))

	wctx, stopBG := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { // periodic recovery of trials whose worker died
		defer bg.Done()
		tick := time.NewTicker(max(cfg.StaleAfter/2, cfg.Heartbeat))
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
				if _, err := t.recover(wctx); err != nil && wctx.Err() == nil {
					t.logf("warning: recovering trials of dead workers: %v", err)
				}
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make([]error, cfg.Workers)
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = t.work(ctx, fmt.Sprintf("%s/%d", cfg.Worker, w))
		}()
	}
	wg.Wait()
	stopBG()
	bg.Wait()
	t.progress.Load().finish()

	if err := errors.Join(errs...); err != nil || ctx.Err() != nil {
		sum.Trials, sum.Recovered = t.reports, t.recov
		_ = t.fillSummary(&sum)
		if ctx.Err() != nil {
			return sum, ErrInterrupted
		}
		return sum, err
	}
	// Recover again before judging the study: a worker may have died
	// while this call ran; its trials are then queued and this call runs
	// them too.
	if n, err := t.recover(ctx); err != nil {
		return sum, err
	} else if n > 0 {
		return t.continueAfterRecovery(ctx, sum)
	}
	sum.Trials, sum.Recovered = t.reports, t.recov
	if err := t.fillSummary(&sum); err != nil {
		return sum, err
	}
	return sum, t.judge(ctx)
}

// continueAfterRecovery runs the trials that the final recovery queued,
// with one worker, then judges the study.
func (t *tuner) continueAfterRecovery(ctx context.Context, sum Summary) (Summary, error) {
	err := t.work(ctx, fmt.Sprintf("%s/%d", t.cfg.Worker, t.cfg.Workers))
	sum.Trials, sum.Recovered = t.reports, t.recov
	if ferr := t.fillSummary(&sum); ferr != nil && err == nil {
		err = ferr
	}
	if ctx.Err() != nil {
		return sum, ErrInterrupted
	}
	if err != nil {
		return sum, err
	}
	return sum, t.judge(ctx)
}

// judge reports whether the call did its job: ErrAllFailed when every
// trial it ran failed, ErrIncomplete when it was to run the study to its
// total and trials are left RUNNING under live workers or queued.
func (t *tuner) judge(ctx context.Context) error {
	if len(t.reports) > 0 && !slices.ContainsFunc(t.reports, func(r TrialReport) bool { return r.State != goptuna.TrialStateFail }) {
		var reasons []string
		for _, r := range t.reports {
			reasons = append(reasons, fmt.Sprintf("trial %d: %s", r.Number, r.Reason))
		}
		return fmt.Errorf("%w (%d): %s", ErrAllFailed, len(t.reports), strings.Join(reasons, "; "))
	}
	if t.cfg.Trials > 0 {
		return nil // this call was asked for a number of trials, not for the whole study
	}
	running, err := t.store.RunningTrials(ctx, t.gs.ID)
	if err != nil {
		return err
	}
	_, waiting, err := t.counts()
	if err != nil {
		return err
	}
	if len(running) == 0 && len(waiting) == 0 {
		return nil
	}
	var left []string
	for _, r := range running {
		left = append(left, fmt.Sprintf("trial %d RUNNING under %s (last heartbeat %s ago; taken for dead after %v)",
			r.Number, r.Owner, time.Since(r.LastSign).Round(time.Second), t.cfg.StaleAfter))
	}
	for _, w := range waiting {
		left = append(left, fmt.Sprintf("trial %d WAITING", w.Number))
	}
	return fmt.Errorf("%w: %s; rerun the same command when they have finished or gone stale", ErrIncomplete, strings.Join(left, ", "))
}

// openStudy creates the study or joins an existing one of the same name,
// builds its sampler and pruner, and makes sure its grid is queued.
func (t *tuner) openStudy(ctx context.Context, points []map[string]float64) (*goptuna.Study, bool, error) {
	s := t.s
	direction := goptuna.StudyDirectionMaximize
	if s.Objective.Direction == "minimize" {
		direction = goptuna.StudyDirectionMinimize
	}
	created := false
	id, err := t.storage.GetStudyIDFromName(s.Name)
	if err != nil {
		id, err = t.storage.CreateNewStudy(s.Name)
		if err == nil {
			created = true
		} else if id2, err2 := t.storage.GetStudyIDFromName(s.Name); err2 == nil {
			id, err = id2, nil // another process created it at the same moment
		} else {
			return nil, false, fmt.Errorf("create study %s: %w", s.Name, err)
		}
	}
	def := definitionHash(s)
	if created {
		if err := t.setUp(id, direction, def); err != nil {
			return nil, false, err
		}
	} else if err := t.checkJoined(ctx, id, direction, def); err != nil {
		return nil, false, err
	}

	// Count the trials already there to offset the seed of TPE's and
	// CMA-ES's own generators, so that a resumed study does not replay the
	// random numbers of its first run. The random draws (sampler random,
	// the fallbacks, TPE's startup trials) need no offset: each is keyed by
	// the seed, the trial's number and the parameter's name.
	existing, err := t.storage.GetAllTrials(id)
	if err != nil {
		return nil, false, fmt.Errorf("study %s: list trials: %w", s.Name, err)
	}
	seed := s.Seed + int64(len(existing))*7919
	opts := []goptuna.StudyOption{
		goptuna.StudyOptionStorage(t.storage),
		goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionDirection(direction),
	}
	var base goptuna.Sampler = sampler.NewRandom(s.Seed)
	switch s.Sampler {
	case study.SamplerRandom, study.SamplerGrid:
		// base alone (for a grid, its fallback).
	case study.SamplerCMAES:
		// base samples what CMA-ES does not.
		opts = append(opts, goptuna.StudyOptionRelativeSampler(&lockedRelative{s: cmaes.NewSampler(cmaes.SamplerOptionSeed(seed))}),
			goptuna.StudyOptionDefineSearchSpace(s.Distributions()))
	default:
		// TPE's startup trials come from base, not from the goptuna
		// RandomSampler inside tpe.Sampler.
		const startup = 5
		base = sampler.NewStartup(startup, base,
			tpe.NewSampler(tpe.SamplerOptionSeed(seed), tpe.SamplerOptionNumberOfStartupTrials(startup)))
	}
	t.pure = s.Sampler == study.SamplerGrid || s.Kind == study.KindCompare
	var chosen goptuna.Sampler = base
	if len(points) > 0 {
		fb := base
		if t.pure {
			fb = nil
		}
		t.grid = grid.New(points, fb)
		chosen = t.grid
	}
	opts = append(opts, goptuna.StudyOptionSampler(sampler.Fixed(chosen)))
	if p, err := buildPruner(s.Pruner); err != nil {
		return nil, false, err
	} else if p != nil {
		opts = append(opts, goptuna.StudyOptionPruner(p))
	}
	gs, err := goptuna.LoadStudy(s.Name, opts...)
	if err != nil {
		return nil, false, fmt.Errorf("load study %s: %w", s.Name, err)
	}
	if t.grid != nil {
		if created {
			err = t.grid.Enqueue(gs)
		} else {
			err = t.grid.Wait(ctx, gs, t.cfg.JoinPatience)
		}
		if err != nil {
			return nil, false, fmt.Errorf("study %s: %w", s.Name, err)
		}
	}
	if s.Kind == study.KindCompare {
		t.gs = gs
		if created {
			err = t.queueCompare()
		} else {
			err = t.waitQueued(ctx, gs.ID)
		}
		if err != nil {
			return nil, false, fmt.Errorf("study %s: %w", s.Name, err)
		}
	}
	return gs, created, nil
}

// checkJoined waits until the creator of a study finished setting it up,
// then checks that it optimises the same thing.
func (t *tuner) checkJoined(ctx context.Context, id int, direction goptuna.StudyDirection, def string) error {
	s := t.s
	deadline := time.Now().Add(t.cfg.JoinPatience)
	for {
		attrs, err := t.storage.GetStudyUserAttrs(id)
		if err != nil {
			return fmt.Errorf("study %s: read attributes: %w", s.Name, err)
		}
		if m, ok := attrs[StudyAttrMetric]; ok {
			if m != s.Objective.Metric {
				return fmt.Errorf("study %s in the store optimises %s, this run %s: use another study name (--set name=...)", s.Name, m, s.Objective.Metric)
			}
			d, err := t.storage.GetStudyDirection(id)
			if err != nil {
				return fmt.Errorf("study %s: read direction: %w", s.Name, err)
			}
			if d != direction {
				return fmt.Errorf("study %s in the store is to %s, this run to %s: use another study name", s.Name, d, direction)
			}
			if old := attrs[StudyAttrDefinition]; old != "" && old != def && t.cfg.Out != nil {
				fmt.Fprintf(t.cfg.Out, "note: study %s was started with a different definition (budget or overrides); resuming it with this one\n", s.Name)
			}
			return t.checkTiming(attrs)
		}
		if time.Now().After(deadline) {
			return t.repair(id, direction, def)
		}
		select {
		case <-ctx.Done():
			return ErrInterrupted
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setUp writes a new study's direction and attributes; the objective
// metric goes last, since processes that join the study wait for it.
func (t *tuner) setUp(id int, direction goptuna.StudyDirection, def string) error {
	s := t.s
	if err := t.storage.SetStudyDirection(id, direction); err != nil {
		return fmt.Errorf("study %s: set direction: %w", s.Name, err)
	}
	attrs := map[string]string{
		"kind":                s.Kind,
		"baseline":            baselineOf(s),
		"target":              s.Target,
		StudyAttrIntermediate: t.inter,
		StudyAttrSampler:      s.Sampler,
		StudyAttrDefinition:   def,
		"budget":              s.Budget,
		"model":               s.Model,
		"dataset":             s.Dataset,
		"optimizers":          fmt.Sprint(s.OptimizerNames()),
		"source":              s.Source,
		"trials":              strconv.Itoa(t.total),
		StudyAttrHeartbeat:    t.cfg.Heartbeat.String(),
		StudyAttrStaleAfter:   t.cfg.StaleAfter.String(),
	}
	if s.Description != "" {
		attrs["description"] = record.Truncate(s.Description, 1000)
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if attrs[k] == "" {
			continue
		}
		if err := t.storage.SetStudyUserAttr(id, k, attrs[k]); err != nil {
			return fmt.Errorf("study %s: set %s: %w", s.Name, k, err)
		}
	}
	// Written last: joiners wait for it.
	if err := t.storage.SetStudyUserAttr(id, StudyAttrMetric, s.Objective.Metric); err != nil {
		return fmt.Errorf("study %s: set %s: %w", s.Name, StudyAttrMetric, err)
	}
	return nil
}

// waitQueued waits, up to JoinPatience, until the creator of a compare
// study has queued its trials.
func (t *tuner) waitQueued(ctx context.Context, id int) error {
	deadline := time.Now().Add(t.cfg.JoinPatience)
	for {
		attrs, err := t.storage.GetStudySystemAttrs(id)
		if err != nil {
			return fmt.Errorf("read attributes: %w", err)
		}
		if attrs[studyAttrQueued] != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return t.queueCompare() // its creator stopped before queueing them
		}
		select {
		case <-ctx.Done():
			return ErrInterrupted
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkTiming refuses to join a study whose workers beat too slowly for
// this process's stale-after, or whose stale-after this process's beat is
// too slow for.
func (t *tuner) checkTiming(attrs map[string]string) error {
	hb, err1 := time.ParseDuration(attrs[StudyAttrHeartbeat])
	stale, err2 := time.ParseDuration(attrs[StudyAttrStaleAfter])
	switch {
	case err1 == nil && t.cfg.StaleAfter < 3*hb:
		return fmt.Errorf("%w: study %s's workers beat every %v; --stale-after %v would take them for dead: use --stale-after %v or more",
			ErrStudySettings, t.s.Name, hb, t.cfg.StaleAfter, 3*hb)
	case err2 == nil && 3*t.cfg.Heartbeat > stale:
		return fmt.Errorf("%w: study %s's workers take a trial for dead after %v without a beat; --heartbeat %v is too slow: use --heartbeat %v or less",
			ErrStudySettings, t.s.Name, stale, t.cfg.Heartbeat, stale/3)
	}
	return nil
}

// repair finishes setting up a study whose creator stopped half-way (it
// created the study row, then died before writing its attributes): when the
// study has no trials yet, this process writes them, as its creator
// would have.
func (t *tuner) repair(id int, direction goptuna.StudyDirection, def string) error {
	trials, err := t.storage.GetAllTrials(id)
	if err != nil {
		return fmt.Errorf("study %s: list trials: %w", t.s.Name, err)
	}
	if len(trials) > 0 {
		return fmt.Errorf("study %s exists with %d trials but was never set up: delete it (tune delete-study %s --yes) or use another name", t.s.Name, len(trials), t.s.Name)
	}
	if t.cfg.Out != nil {
		fmt.Fprintf(t.cfg.Out, "note: study %s was left half-created (its creator stopped); finishing its set-up\n", t.s.Name)
	}
	return t.setUp(id, direction, def)
}

func definitionHash(s *study.Study) string {
	c := *s
	c.Budgets = nil
	b, _ := yaml.Marshal(&c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func buildPruner(p study.Pruner) (goptuna.Pruner, error) {
	switch p.Kind {
	case study.PrunerMedian:
		startup := p.StartupTrials
		if startup == 0 {
			startup = 5
		}
		return &medianstopping.MedianPruner{PercentilePruner: &medianstopping.PercentilePruner{
			Percentile: 50, NStartUpTrials: startup, NWarmUpSteps: p.WarmupSteps}}, nil
	case study.PrunerSuccessiveHalving:
		var opts []successivehalving.Option
		if p.MinResource > 0 {
			opts = append(opts, successivehalving.OptionMinResource(p.MinResource))
		}
		if p.ReductionFactor > 0 {
			opts = append(opts, successivehalving.OptionReductionFactor(p.ReductionFactor))
		}
		if p.MinEarlyStoppingRate > 0 {
			opts = append(opts, successivehalving.OptionMinEarlyStoppingRate(p.MinEarlyStoppingRate))
		}
		pr, err := successivehalving.NewPruner(opts...)
		if err != nil {
			return nil, fmt.Errorf("successive halving: %w", err)
		}
		return pr, nil
	}
	return nil, nil
}

// lockedRelative serialises a relative sampler that is not safe for
// concurrent use (goptuna's CMA-ES).
type lockedRelative struct {
	mu sync.Mutex
	s  goptuna.RelativeSampler
}

func (l *lockedRelative) SampleRelative(st *goptuna.Study, t goptuna.FrozenTrial, space map[string]any) (map[string]float64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.SampleRelative(st, t, space)
}

// counts returns how many runs of the study count towards its total
// (every trial but those failed and re-queued) and the IDs of the WAITING
// ones. With seeds: S, a trial that has not yet been given its seed index
// (a new configuration whose siblings are not queued yet) counts as its S
// runs, and every trial with a seed index as one.
func (t *tuner) counts() (counted int, waiting []goptuna.FrozenTrial, err error) {
	counted, waiting, _, err = t.countsOf()
	return counted, waiting, err
}

// countsOf is counts that also returns every trial it read.
func (t *tuner) countsOf() (counted int, waiting, trials []goptuna.FrozenTrial, err error) {
	trials, err = t.storage.GetAllTrials(t.gs.ID)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("study %s: list trials: %w", t.s.Name, err)
	}
	for _, tr := range trials {
		if tr.State == goptuna.TrialStateFail {
			if _, ok := tr.SystemAttrs[AttrRequeuedAs]; ok {
				continue
			}
		}
		if _, ok := tr.SystemAttrs[AttrSeedIndex]; ok {
			counted++
		} else {
			counted += t.s.SeedCount()
		}
		if tr.State == goptuna.TrialStateWaiting {
			waiting = append(waiting, tr)
		}
	}
	slices.SortFunc(waiting, func(a, b goptuna.FrozenTrial) int { return a.Number - b.Number })
	return counted, waiting, trials, nil
}

// planned estimates how many trials this call will run (for the bar).
func (t *tuner) planned() (int, error) {
	counted, waiting, err := t.counts()
	if err != nil {
		return 0, err
	}
	if t.cfg.Trials > 0 {
		if t.pure {
			return min(t.cfg.Trials, len(waiting)), nil
		}
		return t.cfg.Trials, nil
	}
	return len(waiting) + max(0, t.total-counted), nil
}

// claim returns the ID of the next trial this worker runs, or -1 when
// there is none. Queued (WAITING) trials come first; they are claimed by
// goptuna's WAITING→RUNNING transition, which the storage performs in a
// locked transaction, so that across processes each is run once.
func (t *tuner) claim(ctx context.Context, worker string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ctx.Err() != nil {
		return -1, nil
	}
	if t.cfg.Trials > 0 && t.claimed >= t.cfg.Trials {
		return -1, nil
	}
	counted, waiting, all, err := t.countsOf()
	if err != nil {
		return -1, err
	}
	for _, w := range waiting {
		if w.SystemAttrs[AttrPhase] == PhaseFinal && !finalReady(w, all) {
			continue // its optimizer is still being tuned
		}
		// Name this process as the trial's owner before claiming it: a
		// claim whose owner could not be recorded (the store failed in
		// between) would leave a RUNNING trial that no process can judge
		// dead before StaleAfter. If the beat fails, the trial stays queued.
		if err := t.store.HeartbeatOwner(ctx, w.ID, worker, t.owner); err != nil {
			return -1, fmt.Errorf("study %s: claim trial %d: heartbeat: %w", t.s.Name, w.Number, err)
		}
		err := t.storage.SetTrialState(w.ID, goptuna.TrialStateRunning)
		if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
			continue // another worker took it
		} else if err != nil {
			return -1, fmt.Errorf("study %s: claim trial %d: %w", t.s.Name, w.Number, err)
		}
		t.claimed++
		t.active[w.ID] = true
		return w.ID, nil
	}
	if t.pure || (t.cfg.Trials == 0 && counted >= t.total) {
		return -1, nil
	}
	id, err := t.storage.CreateNewTrial(t.gs.ID)
	if err != nil {
		return -1, fmt.Errorf("study %s: create trial: %w", t.s.Name, err)
	}
	t.claimed++
	t.active[id] = true
	return id, nil
}

func (t *tuner) work(ctx context.Context, worker string) error {
	for {
		id, err := t.claim(ctx, worker)
		if err != nil {
			return err
		}
		if id < 0 {
			return nil
		}
		rep, err := t.runTrial(ctx, id, worker)
		t.mu.Lock()
		delete(t.active, id)
		if err == nil {
			t.reports = append(t.reports, rep)
		}
		t.mu.Unlock()
		if err != nil {
			return err
		}
		t.progress.Load().trialDone(rep)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// recover marks the study's RUNNING trials whose worker is dead FAIL and
// re-queues their parameters (within the retry limit): at once when the
// worker ran on this machine and its process is gone (ReasonGone), else
// when its heartbeat is older than StaleAfter (ReasonStale). Trials of this
// process's own workers are never touched. It returns how many trials it
// re-queued.
func (t *tuner) recover(ctx context.Context) (int, error) {
	running, err := t.store.RunningTrials(ctx, t.gs.ID)
	if err != nil {
		return 0, err
	}
	queued := 0
	for _, r := range running {
		t.mu.Lock()
		mine := t.active[r.TrialID]
		t.mu.Unlock()
		if mine {
			continue // our own trial with a delayed beat
		}
		var reason string
		switch {
		case r.Owner.Gone():
			reason = ReasonGone
		case time.Since(r.LastSign) > t.cfg.StaleAfter && !r.Owner.Alive():
			// A late beat of a live process on this machine means it
			// was stopped or starved, not that it died: leave its trial.
			reason = ReasonStale
		default:
			continue // alive, or not known to be dead yet
		}
		ok, requeued, err := t.failAndRequeue(r.TrialID, reason, true)
		if err != nil {
			return queued, err
		}
		if !ok {
			continue
		}
		t.mu.Lock()
		t.recov = append(t.recov, r.Number)
		t.mu.Unlock()
		if requeued {
			queued++
			t.logf("trial %d: %s: marked FAIL, parameters re-queued", r.Number, reason)
		} else {
			t.logf("trial %d: %s: marked FAIL; not re-queued: its parameters failed %d times", r.Number, reason, t.retries+1)
		}
	}
	return queued, nil
}

// failAndRequeue moves a RUNNING trial to FAIL with reason and re-queues
// its parameters (see requeue; counted says whether this failure counts
// towards the retry limit). ok is false when the trial had already
// finished (another process got there first).
func (t *tuner) failAndRequeue(id int, reason string, counted bool) (ok, requeued bool, err error) {
	err = t.storage.SetTrialState(id, goptuna.TrialStateFail)
	if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
		return false, false, nil
	} else if err != nil {
		return false, false, fmt.Errorf("trial %d: mark FAIL: %w", id, err)
	}
	if err := t.setReason(id, reason); err != nil {
		return true, false, err
	}
	requeued, err = t.requeue(id, counted)
	return true, requeued, err
}

// requeue queues a new trial with the parameters (and grid point) of the
// failed trial id, links the two and carries the attempt count: unless
// the failure is counted and the parameters have used up the study's
// retries, then it reports false and queues nothing. The new trial resumes
// from the failed one's checkpoint, if it left one.
func (t *tuner) requeue(id int, counted bool) (bool, error) {
	old, err := t.storage.GetTrial(id)
	if err != nil {
		return false, fmt.Errorf("trial %d: read: %w", id, err)
	}
	attempt, retries := 1, 0
	if a, err := strconv.Atoi(old.SystemAttrs[AttrAttempt]); err == nil {
		attempt = a
	}
	if r, err := strconv.Atoi(old.SystemAttrs[attrRetries]); err == nil {
		retries = r
	}
	if counted {
		retries++
		if retries > t.retries {
			t.ckpt.drop(context.Background(), id)
			return false, nil
		}
	}
	first := strconv.Itoa(old.Number)
	if f, ok := old.SystemAttrs[AttrRetryOf]; ok {
		first = f
	}
	fixed := map[string]float64{}
	if raw, ok := old.SystemAttrs[grid.AttrFixedParams]; ok {
		_ = json.Unmarshal([]byte(raw), &fixed)
	}
	maps.Copy(fixed, old.InternalParams)
	attrs := map[string]string{AttrRequeuedFrom: strconv.Itoa(old.Number), AttrRetryOf: first,
		AttrAttempt: strconv.Itoa(attempt + 1), attrRetries: strconv.Itoa(retries), attrCheckpointOf: strconv.Itoa(id)}
	for _, k := range []string{grid.AttrPoint, AttrSeedIndex, AttrPhase} {
		if v, ok := old.SystemAttrs[k]; ok {
			attrs[k] = v
		}
	}
	if err := grid.EnqueuePoint(t.gs, fixed, attrs); err != nil {
		return false, fmt.Errorf("trial %d: re-queue: %w", old.Number, err)
	}
	// Find the new trial's number to link the two.
	trials, err := t.storage.GetAllTrials(t.gs.ID)
	if err == nil {
		for i := len(trials) - 1; i >= 0; i-- {
			if trials[i].SystemAttrs[AttrRequeuedFrom] == strconv.Itoa(old.Number) {
				_ = t.storage.SetTrialSystemAttr(id, AttrRequeuedAs, strconv.Itoa(trials[i].Number))
				break
			}
		}
	}
	return true, nil
}

// logf writes a line between the progress bar's redraws (or straight to
// Out before the bar exists). It does not take t.mu: it is called while
// t.mu is held (a store outage logged from inside a claim).
func (t *tuner) logf(format string, args ...any) {
	if p := t.progress.Load(); p != nil {
		p.line(format, args...)
	} else if t.cfg.Out != nil {
		fmt.Fprintf(t.cfg.Out, format+"\n", args...)
	}
}

func (t *tuner) setReason(id int, reason string) error {
	return record.SetReason(t.storage, id, reason)
}

func (t *tuner) fillSummary(sum *Summary) error {
	trials, err := t.storage.GetAllTrials(t.gs.ID)
	if err != nil {
		return err
	}
	sum.Counts = map[string]int{}
	sum.Best.Number = -1
	maximize := t.s.Objective.Direction == "maximize"
	for _, tr := range trials {
		sum.Counts[stateName(tr.State)]++
		if tr.State != goptuna.TrialStateComplete || math.IsNaN(tr.Value) {
			continue
		}
		if sum.Best.Number < 0 || (maximize && tr.Value > sum.Best.Value) || (!maximize && tr.Value < sum.Best.Value) {
			sum.Best.Number, sum.Best.Value, sum.Best.Params = tr.Number, tr.Value, tr.Params
		}
	}
	return nil
}

func stateName(s goptuna.TrialState) string {
	switch s {
	case goptuna.TrialStateRunning:
		return "RUNNING"
	case goptuna.TrialStateComplete:
		return "COMPLETE"
	case goptuna.TrialStatePruned:
		return "PRUNED"
	case goptuna.TrialStateFail:
		return "FAIL"
	case goptuna.TrialStateWaiting:
		return "WAITING"
	}
	return s.String()
}

// baselineOf is the study's baseline when it is one of the optimizers the
// study runs, else "".
func baselineOf(s *study.Study) string {
	if slices.Contains(s.OptimizerNames(), s.Baseline) {
		return s.Baseline
	}
	return ""
}
