package results

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// envReadOnlyDir makes TestReadOnlyFolder, run again as an unprivileged
// user, check the folder it names.
const envReadOnlyDir = "LRSGD_RESULTS_TEST_READONLY_DIR"

// TestReadOnlyFolder: a store to be created in a folder the process cannot
// write in is refused up front, saying the folder is not writable, not
// "no such file". Root may write anywhere, so under root the test runs
// itself again as user nobody (65534).
func TestReadOnlyFolder(t *testing.T) {
	dir := os.Getenv(envReadOnlyDir)
	if dir == "" {
		parent, err := os.MkdirTemp("", "lrsgd-readonly-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Join(parent, "ro"), 0o755); os.RemoveAll(parent) })
		dir = filepath.Join(parent, "ro")
		if err := os.Mkdir(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			runAsNobody(t, parent, dir)
			return
		}
	}
	db := filepath.Join(dir, "lab.db")
	for name, err := range map[string]error{"CheckDSN": CheckDSN(db), "Open": closed(Open(context.Background(), db))} {
		if err == nil || !strings.Contains(err.Error(), "folder "+dir+" is not writable") || strings.Contains(err.Error(), "no such file") {
			t.Errorf("%s in a read-only folder: %v, want it to say the folder %s is not writable", name, err, dir)
		}
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a store was created in the read-only folder: %v", err)
	}
}

// runAsNobody runs TestReadOnlyFolder again, from a copy of the test
// binary in parent, as user nobody, on dir.
func runAsNobody(t *testing.T, parent, dir string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(parent, "results.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestReadOnlyFolder$", "-test.v")
	cmd.Dir = parent
	cmd.Env = slices.Concat(os.Environ(), []string{envReadOnlyDir + "=" + dir, "HOME=" + parent})
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("TestReadOnlyFolder as nobody: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "--- PASS: TestReadOnlyFolder") {
		t.Errorf("TestReadOnlyFolder as nobody did not pass:\n%s", out)
	}
}
