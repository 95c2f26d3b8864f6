package train

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
)

// TestCheckpointRemovesLeftoverTempFiles: the empty temporary files a
// process killed while writing its checkpoint leaves beside it are removed
// by the next SaveCheckpoint; files that merely look alike are kept.
func TestCheckpointRemovesLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := baseConfig(t)
	cfg.Epochs = 1
	cfg.Checkpoint = filepath.Join(dir, "run.ckpt")
	leftovers := []string{"run.ckpt.tmp123456789", "run.ckpt.tmp1"}
	kept := []string{"run.ckpt.tmp", "run.ckpt.tmpx1", "run.ckpt.tmp12.bak", "other.ckpt.tmp42", "run.ckpt.old"}
	for _, name := range append(slices.Clone(leftovers), kept...) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "run.ckpt.tmp7"), 0o755); err != nil { // not a regular file: kept
		t.Fatal(err)
	}
	kept = append(kept, "run.ckpt.tmp7")
	mustRun(t, cfg, blocks.NewSGD(), Hooks{})
	for _, name := range leftovers {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leftover %s is still there (%v)", name, err)
		}
	}
	for _, name := range append(kept, "run.ckpt") {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
}
