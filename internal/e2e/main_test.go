package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lrsgd-lab/lrsgd/internal/cmdtest"
)

// bin holds the commands and plugins built once for all tests.
var bin struct {
	dir, plugins string
	err          error
}

func TestMain(m *testing.M) {
	os.Exit(cmdtest.Main(m, "e2e-", func(dir string) error {
		bin.dir, bin.plugins = dir, filepath.Join(dir, "plugins")
		bin.err = build(dir) // reported by each test
		return nil
	}))
}

func build(dir string) error {
	targets := map[string]string{}
	for _, c := range []string{"train", "tune", "report"} {
		targets[c] = "./cmd/" + c
	}
	for _, p := range []string{"sgd", "lrsgd-r", "lrsgd-c", "adam-lr"} {
		targets[filepath.Join("plugins", p)] = "./plugins/" + p
	}
	return cmdtest.Build(cmdtest.RepoRoot(), dir, targets)
}

// result is one command's exit status and output.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// pinnedKernels makes OpenBLAS use its Haswell kernels (AVX2 and FMA)
// whatever CPU it finds: each CPU family has its own SGEMM kernels, whose
// float32 sums round differently (the 7th–8th digit of a loss), so numbers
// pinned bit for bit, as in testdata/golden.json, hold on every machine
// with AVX2 only with the kernels fixed.
const pinnedKernels = "OPENBLAS_CORETYPE=Haswell"

// command runs a built command in dir with the built plugins and without
// the caller's store or plugin settings.
func command(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	if name != "report" {
		args = append([]string{"--plugins-dir", bin.plugins, "--no-progress"}, args...)
	}
	env := []string{"LRSGD_STORAGE=", "LRSGD_PLUGINS=", "LRSGD_PLUGIN_MANIFEST=", pinnedKernels}
	r := cmdtest.Run(context.Background(), t, filepath.Join(bin.dir, name), dir, env, args...)
	return result{r.Code, r.Stdout, r.Stderr}
}
