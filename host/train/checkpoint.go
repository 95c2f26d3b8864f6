package train

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lrsgd-lab/lrsgd/host/data"
)

// checkpointVersion is bumped when the file layout changes.
const checkpointVersion = 1

// checkpoint is everything a resumed run needs to continue
// bit-identically. It is written with encoding/gob.
type checkpoint struct {
	Version     int
	Fingerprint string // identifies the run; see fingerprint
	Params      []float32
	State       []float32 // optimizer state vectors
	Stats       []float32 // batch-norm running statistics
	OptBlob     []byte    // optimizer Save
	Stream      data.State
	GradEvals   int64
	Outer       int64
	OuterStart  int64 // gradient evaluations when the current outer step began
	EvalDue     bool
	Diverged    bool
	DivergedAt  int64
	Curve       []EvalPoint
	Timing      reservoir
	Wall        float64
}

// fingerprint names what must not change between a checkpoint and the
// run that resumes it.
func (t *Trainer) fingerprint() string {
	keys := make([]string, 0, len(t.cfg.Hyperparams))
	for k := range t.cfg.Hyperparams {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hp := make([]string, len(keys))
	for i, k := range keys {
		hp[i] = k + "=" + t.cfg.Hyperparams[k]
	}
	return fmt.Sprintf("model=%s params=%d train=%s/%d/%s test=%s/%d batch=%d seed=%d data_seed=%d optimizer=%s hyperparams=[%s] schedule=%+v%s",
		t.model.Name(), t.model.NumParams(), t.train.Name, t.train.N, t.train.Checksum, t.test.Name, t.test.N,
		t.cfg.BatchSize, t.cfg.Seed, t.cfg.StreamSeed, t.name, strings.Join(hp, " "), t.cfg.Schedule, clockTag(t.cfg.Clock))
}

// SaveCheckpoint writes the run's state to path atomically (a temporary
// file in the same folder, synced, then renamed over path). Temporary
// files of the same checkpoint left behind by a process that was killed
// while writing one (kill -9) are removed first.
func (t *Trainer) SaveCheckpoint(ctx context.Context, path string) error {
	blob, err := t.opt.Save(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("checkpoint %s: optimizer save: %w", path, err)
	}
	ck := checkpoint{
		Version: checkpointVersion, Fingerprint: t.fingerprint(),
		Params: t.buf.Params, State: t.buf.State, Stats: t.stats, OptBlob: blob,
		Stream: t.stream.State(), GradEvals: t.gradEvals, Outer: t.outer, OuterStart: t.outerStart, EvalDue: t.evalDue,
		Diverged: t.diverged, DivergedAt: t.divergedAt,
		Curve: t.curve, Timing: t.timing, Wall: t.wall(),
	}
	dir := filepath.Dir(path)
	if err := removeTempFiles(path); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	w := bufio.NewWriterSize(f, 1<<20)
	if err := gob.NewEncoder(w).Encode(&ck); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint %s: encode: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint %s: write: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("checkpoint %s: close: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// removeTempFiles removes the temporary files SaveCheckpoint creates for
// path — regular files named after it plus ".tmp" and the decimal digits
// os.CreateTemp puts for its "*" — and nothing else. A trainer writes its
// checkpoint from one goroutine, so none of them is being written.
func removeTempFiles(path string) error {
	dir, base := filepath.Dir(path), filepath.Base(path)+".tmp"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), base)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove a leftover temporary file: %w", err)
		}
	}
	return nil
}

// restore loads a checkpoint written by SaveCheckpoint for the same run.
func (t *Trainer) restore(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("resume: %w: %w", ErrCheckpoint, err)
	}
	defer f.Close()
	var ck checkpoint
	if err := gob.NewDecoder(bufio.NewReader(f)).Decode(&ck); err != nil {
		return fmt.Errorf("resume %s: %w: not a readable checkpoint: %w", path, ErrCheckpoint, err)
	}
	if ck.Version != checkpointVersion {
		return fmt.Errorf("resume %s: %w: checkpoint version %d, want %d", path, ErrCheckpoint, ck.Version, checkpointVersion)
	}
	if fp := t.fingerprint(); ck.Fingerprint != fp {
		return fmt.Errorf("resume %s: %w: the checkpoint belongs to another run:\n  checkpoint: %s\n  this run:   %s", path, ErrCheckpoint, ck.Fingerprint, fp)
	}
	if len(ck.Params) != len(t.buf.Params) || len(ck.State) != len(t.buf.State) || len(ck.Stats) != len(t.stats) {
		return fmt.Errorf("resume %s: vectors of %d/%d/%d values, want %d/%d/%d", path,
			len(ck.Params), len(ck.State), len(ck.Stats), len(t.buf.Params), len(t.buf.State), len(t.stats))
	}
	copy(t.buf.Params, ck.Params)
	copy(t.buf.State, ck.State)
	copy(t.stats, ck.Stats)
	if err := t.opt.Restore(ctx, ck.OptBlob); err != nil {
		return fmt.Errorf("resume %s: optimizer restore: %w", path, err)
	}
	if err := t.stream.SetState(ck.Stream); err != nil {
		return fmt.Errorf("resume %s: data stream: %w", path, err)
	}
	t.gradEvals, t.outer, t.outerStart, t.evalDue = ck.GradEvals, ck.Outer, ck.OuterStart, ck.EvalDue
	t.diverged, t.divergedAt = ck.Diverged, ck.DivergedAt
	t.curve, t.wallBase = ck.Curve, ck.Wall
	t.timing = ck.Timing
	if t.timing.Samples == nil {
		t.timing = newReservoir(reservoirCap)
	}
	return nil
}

// clockTag is the fingerprint's clock, empty for the epochs clock so that
// checkpoints written before clocks existed still resume.
func clockTag(clock string) string {
	if clock == "" || clock == ClockEpochs {
		return ""
	}
	return " clock=" + clock
}
