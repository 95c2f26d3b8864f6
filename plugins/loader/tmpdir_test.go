package loader

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lrsgd-lab/lrsgd/internal/owner"
)

// TestStaleTempDirsRemoved: the folder of a host process that is gone, and
// what its plugins left in it (a socket file after a kill -9), is removed;
// the folders of live processes are kept.
func TestStaleTempDirsRemoved(t *testing.T) {
	base := t.TempDir()
	me := owner.Self()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "30")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	lo, err := owner.Of(live.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	goneDir := filepath.Join(base, fmt.Sprintf("%s%d-%d", socketDirPrefix, dead.Process.Pid, 12345))
	liveDir := filepath.Join(base, fmt.Sprintf("%s%d-%d", socketDirPrefix, lo.PID, lo.Start))
	other := filepath.Join(base, "somebody-elses")
	for _, d := range []string{goneDir, liveDir, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "plugin123456"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleTempDirs(base, me)
	if _, err := os.Stat(goneDir); !os.IsNotExist(err) {
		t.Errorf("%s of a gone process kept (%v)", goneDir, err)
	}
	for _, d := range []string{liveDir, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
}

func TestWithTempDirSetsPluginTMPDIR(t *testing.T) {
	env := withTempDir([]string{"PATH=/bin", "TMPDIR=/elsewhere"})
	dir, err := pluginTempDir()
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != 2 || env[0] != "PATH=/bin" || env[1] != "TMPDIR="+dir {
		t.Errorf("env %v, want PATH and TMPDIR=%s", env, dir)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Errorf("plugin temporary folder %s: %v", dir, err)
	}
}
