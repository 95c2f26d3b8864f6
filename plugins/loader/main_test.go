package loader

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binDir holds the binaries TestMain builds: the four optimizer plugins,
// testplugin (the sdktest toy optimizer with injectable faults) and
// notplugin (an ordinary program).
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("LRSGD_TEST_ORPHAN_HOST") == "1" {
		return m.Run() // the host half of TestPluginExitsWithHost: binaries exist
	}
	dir, err := os.MkdirTemp("", "lrsgd-loader-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	binDir = dir
	const mod = "github.com/lrsgd-lab/lrsgd/"
	cmd := exec.Command("go", "build", "-o", dir+"/",
		mod+"plugins/loader/testdata/testplugin", mod+"plugins/loader/testdata/notplugin",
		mod+"plugins/sgd", mod+"plugins/lrsgd-r", mod+"plugins/lrsgd-c", mod+"plugins/adam-lr")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test plugins: %v\n%s", err, out)
		return 2
	}
	return m.Run()
}

// pluginDir returns a fresh directory holding the named binaries from
// binDir (hard links, or copies where linking fails).
func pluginDir(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		src, dst := filepath.Join(binDir, n), filepath.Join(dir, n)
		if err := os.Link(src, dst); err == nil {
			continue
		}
		if err := copyFile(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
