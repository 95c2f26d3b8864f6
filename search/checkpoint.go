package search

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lrsgd-lab/lrsgd/search/study"
)

// System attributes that carry a trial's retry state to its re-queued
// copy (internal: the attempt count and the link to the checkpoint).
const (
	attrRetries      = "retries_used"  // counted retries used by the parameters so far
	attrCheckpointOf = "checkpoint_of" // trial ID whose checkpoint this trial resumes from
)

// CheckpointsOff as Config.CheckpointDir turns trial checkpoints off.
const CheckpointsOff = "none"

// checkpoints keeps the checkpoint of every running trial, so that a trial
// that was interrupted or whose worker died resumes, when its parameters
// are run again, from its last evaluation instead of from the start. A
// checkpoint holds the model, the optimizer's state (its Save blob and
// state vectors), the data stream's position and the curve so far (see
// host/train). Files live in a folder (beside a SQLite store, or where
// Config.CheckpointDir says); for a PostgreSQL store they are written to a
// local folder and copied into the store's trial_checkpoints table after
// every evaluation, so that a worker on another machine can resume them.
type checkpoints struct {
	dir     string // "" when off
	inStore bool   // copy each checkpoint into the store
	store   Store
}

// newCheckpoints chooses where the study's trials keep checkpoints.
// Trials under the stability probe have none (its K + 1 runs cannot share
// one checkpoint).
func newCheckpoints(cfg Config, st Store, s *study.Study) (checkpoints, error) {
	c := checkpoints{store: st}
	switch {
	case cfg.CheckpointDir == CheckpointsOff || s.Stability != nil:
		return c, nil
	case cfg.CheckpointDir != "":
		c.dir = cfg.CheckpointDir
	case cfg.StoreFile != "":
		c.dir = cfg.StoreFile + ".checkpoints"
	default:
		dir, err := os.MkdirTemp("", "lrsgd-checkpoints-")
		if err != nil {
			return c, fmt.Errorf("checkpoints: %w", err)
		}
		c.dir, c.inStore = dir, true
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return c, fmt.Errorf("checkpoint folder: %w", err)
	}
	return c, nil
}

// path is the checkpoint file of a trial ("" when checkpoints are off).
// Trial IDs are unique in a store, and a folder serves one store.
func (c checkpoints) path(trialID int) string {
	if c.dir == "" {
		return ""
	}
	return filepath.Join(c.dir, "trial-"+strconv.Itoa(trialID)+".ckpt")
}

// adopt makes the checkpoint that trial from left the checkpoint of trial
// id, and reports whether there is one to resume from.
func (c checkpoints) adopt(ctx context.Context, id, from int) (bool, error) {
	if c.dir == "" {
		return false, nil
	}
	dst := c.path(id)
	if c.inStore {
		data, ok, err := c.store.GetCheckpoint(ctx, from)
		if err != nil || !ok {
			return false, err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return false, fmt.Errorf("checkpoint of trial %d: %w", from, err)
		}
		if err := c.store.PutCheckpoint(ctx, id, data); err != nil {
			return false, err
		}
		return true, c.store.DeleteCheckpoint(ctx, from)
	}
	err := os.Rename(c.path(from), dst)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint of trial %d: %w", from, err)
	}
	return true, nil
}

// saved copies the trial's latest checkpoint into the store, for stores
// that keep them there.
func (c checkpoints) saved(ctx context.Context, id int) error {
	if !c.inStore {
		return nil
	}
	data, err := os.ReadFile(c.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoint of trial %d: %w", id, err)
	}
	return c.store.PutCheckpoint(ctx, id, data)
}

// drop removes a trial's checkpoint: it finished, or will never resume.
func (c checkpoints) drop(ctx context.Context, id int) {
	if c.dir == "" {
		return
	}
	os.Remove(c.path(id))
	if c.inStore {
		_ = c.store.DeleteCheckpoint(context.WithoutCancel(ctx), id)
	}
}
