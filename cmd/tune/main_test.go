package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lrsgd-lab/lrsgd/internal/cmdtest"
	"github.com/lrsgd-lab/lrsgd/results"
)

// bin holds the tune binary and the plugins built once for all tests.
var bin struct {
	dir     string // temp folder
	tune    string // path of the tune binary
	plugins string // plugin folder
	err     error
}

func TestMain(m *testing.M) {
	os.Exit(cmdtest.Main(m, "tune-test-", func(dir string) error {
		bin.dir = dir
		bin.tune = filepath.Join(dir, "tune")
		bin.plugins = filepath.Join(dir, "plugins")
		bin.err = build(dir) // reported by each test
		return nil
	}))
}

// repoRoot is the folder holding go.mod.
func repoRoot() string { return cmdtest.RepoRoot() }

func build(dir string) error {
	targets := map[string]string{"tune": "./cmd/tune"}
	for _, p := range []string{"sgd", "lrsgd-r", "lrsgd-c", "adam-lr"} {
		targets[filepath.Join("plugins", p)] = "./plugins/" + p
	}
	return cmdtest.Build(repoRoot(), dir, targets)
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runTune runs the binary in dir with the test plugins.
func runTune(t *testing.T, dir string, args ...string) result {
	t.Helper()
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"--plugins-dir", bin.plugins, "--no-progress"}, args...)
	}
	r := cmdtest.Run(ctx, t, bin.tune, dir, []string{"LRSGD_STORAGE="}, args...)
	return result{r.Code, r.Stdout, r.Stderr}
}

func countStudies(t *testing.T, path string) int {
	t.Helper()
	st, err := results.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss, err := st.Studies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

func TestBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: x\noptimizer: sgd\nmodel: lenet\n  dataset: synthetic\n"), 0o644)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("name: x\noptimizer: sgd\nmodel: lenet\ndataset: synthetic\nflavour: sweet\n"), 0o644)
	db := filepath.Join(dir, "s.db")
	corrupt := filepath.Join(dir, "data", "cifar-10-batches-bin")
	os.MkdirAll(corrupt, 0o755)
	for _, f := range []string{"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"} {
		os.WriteFile(filepath.Join(corrupt, f+".bin"), make([]byte, 1000), 0o644)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown study", []string{"--study", "no-such-study"}, []string{`unknown study "no-such-study"`, "gamma-sweep"}},
		{"malformed yaml", []string{"--study", bad}, []string{"bad.yaml", "line 4"}},
		{"unknown field", []string{"--study", unknown}, []string{"unknown.yaml", "line 5", "flavour"}},
		{"unknown optimizer", []string{"--study", "gamma-sweep", "--set", "optimizer=rmsprop-x"}, []string{`optimizer "rmsprop-x"`, "unknown optimizer", "lrsgd-r"}},
		{"out of range", []string{"--study", "gamma-sweep", "--set", "gamma=1.5"}, []string{`gamma="1.5" is outside its valid range`}},
		{"range outside plugin", []string{"--study", "inner-steps", "--set", "space=[{name: m, type: int, low: 0, high: 5}]", "--set", "grid={}"}, []string{"range [0, 5] is outside the valid range of m"}},
		{"bad set key", []string{"--study", "gamma-sweep", "--set", "colour=red"}, []string{`unknown key "colour"`}},
		{"bad sampler", []string{"--study", "gamma-sweep", "--sampler", "annealing"}, []string{`sampler: "annealing"`}},
		{"bad budget", []string{"--study", "gamma-sweep", "--budget", "huge"}, []string{`no budget "huge"`}},
		{"no study", nil, []string{"--study is required"}},
		{"corrupt data", []string{"--study", "gamma-sweep", "--data-dir", filepath.Join(dir, "data")}, []string{"data_batch_1.bin", "truncated"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runTune(t, dir, append(c.args, "--storage", db)...)
			if r.code != 2 {
				t.Errorf("exit %d, want %d\n%s", r.code, 2, r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q\n%s", w, r)
				}
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("store %s was created (stat err %v)", db, err)
			}
		})
	}
	// The same on an existing store: nothing is added to it.
	if _, err := results.Open(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	r := runTune(t, dir, "--study", "gamma-sweep", "--set", "gamma=1.5", "--storage", db)
	if r.code != 2 || countStudies(t, db) != 0 {
		t.Errorf("existing store: %s; %d studies", r, countStudies(t, db))
	}
}

func TestUnreachableStorageMasksPassword(t *testing.T) {
	dir := t.TempDir()
	r := runTune(t, dir, "--study", "gamma-sweep", "--set", "dataset=synthetic", "--storage", "postgres://lab:s3cretpw@127.0.0.1:1/lrsgd?connect_timeout=2")
	if r.code != 2 {
		t.Errorf("exit %d, want %d\n%s", r.code, 2, r)
	}
	if strings.Contains(r.stdout+r.stderr, "s3cretpw") {
		t.Errorf("password in output:\n%s", r)
	}
	if !strings.Contains(r.stderr, "127.0.0.1") {
		t.Errorf("error does not name the server:\n%s", r)
	}
}

func TestListings(t *testing.T) {
	dir := t.TempDir()
	r := runTune(t, dir, "studies")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, s := range []string{"gamma-sweep", "lambda-sweep", "inner-steps", "psi-sweep", "adam-lr", "small-batch", "table1"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("tune studies lacks %s:\n%s", s, r.stdout)
		}
	}
	r = runTune(t, dir, "plugins", "--plugins-dir", bin.plugins)
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, s := range []string{"[sgd]", "[lrsgd-r]", "[lrsgd-c]", "[adam-lr]", "gamma", "lambda_coef"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("tune plugins lacks %s:\n%s", s, r.stdout)
		}
	}
}
