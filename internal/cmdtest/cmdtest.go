// Package cmdtest holds helpers for tests that build the lab's commands
// and plugins and run them: a TestMain with a temporary folder, go build
// of a set of packages into it, and a run of a built command that returns
// its exit status and output.
package cmdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
)

// RepoRoot is the folder holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0) // internal/cmdtest/cmdtest.go
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Main runs m's tests for a TestMain and returns the exit code for
// os.Exit. Before the tests it makes a temporary folder named after
// prefix and calls setup with it; an error from setup is printed and
// stops the run before any test. The folder is removed afterwards.
func Main(m *testing.M, prefix string, setup func(dir string) error) int {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := setup(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Build runs go build in the folder root for each entry of targets: the
// key is the output path, relative to dir, and the value the package, as
// go build names it from root ("./cmd/tune"). It stops at the first
// failure, with go's output in the error.
func Build(root, dir string, targets map[string]string) error {
	outs := make([]string, 0, len(targets))
	for out := range targets {
		outs = append(outs, out)
	}
	sort.Strings(outs)
	for _, out := range outs {
		pkg := targets[out]
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return nil
}

// Result is a finished command's exit status and output.
type Result struct {
	Code           int
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs the executable bin with args in the folder dir ("" for the
// test's own), with env added to the test's environment, until it exits
// or ctx is done (then it is killed). A non-zero exit is a Result, not a
// failure; Run fails the test only where bin cannot be run at all.
func Run(ctx context.Context, t testing.TB, bin, dir string, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", filepath.Base(bin), err)
	}
	return r
}
