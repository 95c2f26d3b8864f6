// Package loadertest helps test an optimizer plugin from outside package
// loader, as a command uses it: it builds the plugin's package into a
// plugin folder, lists it, and opens it through the host's loader.
package loadertest

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// BuildPlugin builds the package pkg, as go build names it from the
// test's folder ("." for the package under test), into the executable
// name in a fresh plugin folder, and returns the folder.
func BuildPlugin(t testing.TB, pkg, name string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// Describe lists the plugins in opts.Dir, fails the test unless that is
// one plugin, name, described without error, and returns its description
// as loader.FormatDescription writes it (with the hyperparameter table).
func Describe(t testing.TB, opts loader.Options, name string) string {
	t.Helper()
	infos, err := loader.List(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Err != nil || infos[0].Desc.Name != name {
		t.Fatalf("List = %+v, want one %s plugin", infos, name)
	}
	var table bytes.Buffer
	if err := loader.FormatDescription(&table, infos[0].Desc); err != nil {
		t.Fatal(err)
	}
	return table.String()
}

// Start opens the plugin name through the loader, initialises it with cfg
// and returns it with its buffers. The plugin is closed when the test
// ends, if the test has not closed it before.
func Start(t testing.TB, name string, opts loader.Options, cfg optimizer.InitConfig) (optimizer.Optimizer, optimizer.Buffers) {
	t.Helper()
	o, err := loader.Open(context.Background(), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	b, err := o.Init(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o, b
}
