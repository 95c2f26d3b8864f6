package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// bin holds the commands and plugins built once for all tests.
var bin struct {
	dir, plugins string
	err          error
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin.dir, bin.plugins = dir, filepath.Join(dir, "plugins")
		bin.err = build(dir)
		return m.Run()
	}()
	os.Exit(code)
}

// repoRoot is the folder holding go.mod.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func build(dir string) error {
	targets := map[string]string{}
	for _, c := range []string{"train", "tune", "report"} {
		targets[filepath.Join(dir, c)] = "./cmd/" + c
	}
	for _, p := range []string{"sgd", "lrsgd-r", "lrsgd-c", "adam-lr"} {
		targets[filepath.Join(dir, "plugins", p)] = "./plugins/" + p
	}
	for out, pkg := range targets {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = repoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return nil
}

// result is one command's exit status and output.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// command runs a built command in dir with the built plugins and without
// the caller's store or plugin settings.
func command(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	pluginFlag := "--plugins-dir"
	if name == "report" {
		pluginFlag = ""
	}
	var all []string
	if pluginFlag != "" {
		all = append(all, pluginFlag, bin.plugins, "--no-progress")
	}
	cmd := exec.Command(filepath.Join(bin.dir, name), append(all, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LRSGD_STORAGE=", "LRSGD_PLUGINS=", "LRSGD_PLUGIN_MANIFEST=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	return r
}
