package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

// TestCheckRefusesCombinations: values that each lie in their range but
// that the plugin refuses together, or at the study's lr, are refused
// before the store is touched (exit 2, no store file).
func TestCheckRefusesCombinations(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	study := []string{"--study", "gamma-sweep", "--set", "dataset=synthetic", "--storage", db}
	tests := []struct {
		name string
		sets []string
		want []string
	}{
		{"nesterov needs dampening 0", []string{"hp.nesterov=true", "hp.dampening=0.5"}, []string{
			"study gamma-sweep: optimizer lrsgd-r refuses 5 of the study's 5 hyperparameter combinations; the first: grid point 0 (gamma=0.5)",
			"dampening=0.5 gamma=0.5 lambda_coef=0.01 nesterov=true preset=reference} at lr 0.1",
			"lrsgd-r: nesterov=true needs momentum > 0 and dampening = 0, have momentum=0.9 dampening=0.5",
		}},
		{"psi needs lambda above delta", []string{"hp.m_policy=psi", "hp.delta=1"}, []string{
			"optimizer lrsgd-r refuses 5 of the study's 5",
			"lrsgd-r: at lr=0.1: m_policy=psi needs lambda_coef/lr > delta, have 0.09999999999999999 <= 1",
		}},
		{"lambda follows the lr", []string{"hp.m_policy=psi", "hp.delta=0.05", "lr=1"}, []string{
			"at lr 1: ", "lrsgd-r: at lr=1: m_policy=psi needs lambda_coef/lr > delta, have 0.01 <= 0.05",
		}},
		{"one grid point refused", []string{"hyperparams={lrsgd-r: {m_policy: psi, delta: 0.05}}",
			"space=[{name: lambda_coef, type: float, low: 0.001, high: 0.1}]", "grid={lambda_coef: [0.001, 0.01, 0.1]}"}, []string{
			"refuses 1 of the study's 3 hyperparameter combinations; the first: grid point 0 (lambda_coef=0.001)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := study
			for _, s := range tt.sets {
				args = append(args, "--set", s)
			}
			r := runTune(t, dir, args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\n%s", r.code, r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q\n%s", w, r)
				}
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("store %s was created (stat err %v)", db, err)
			}
		})
	}
	// The same values where the plugin accepts them pass the check.
	r := runTune(t, dir, append(study, "--set", "hp.m_policy=psi", "--set", "hp.delta=0.05", "--dry-run")...)
	if r.code != 0 {
		t.Errorf("accepted combination: exit %d, want 0\n%s", r.code, r)
	}
}

// TestOpensOnlyTheStudysPlugins: tune starts the plugins its study names
// and no other (a plugin that never completes its handshake elsewhere in
// the folder costs nothing), reports a plugin file that is not executable
// as such, and has --rpc-timeout.
func TestOpensOnlyTheStudysPlugins(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	os.Mkdir(plugins, 0o755)
	b, err := os.ReadFile(filepath.Join(bin.plugins, "lrsgd-r"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(plugins, "lrsgd-r"), b, 0o755)
	marker := filepath.Join(dir, "started")
	// It holds the handshake cookie, so the loader would start it, and it
	// would keep tune waiting for its handshake.
	hang := "#!/bin/sh\n# " + sdk.MagicCookieValue + "\ntouch " + marker + "\nsleep 60\n"
	os.WriteFile(filepath.Join(plugins, "hangs"), []byte(hang), 0o755)

	r := runTune(t, dir, "--study", "gamma-sweep", "--set", "dataset=synthetic", "--plugins-dir", plugins, "--rpc-timeout", "5s", "--dry-run")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("tune started a plugin its study does not name")
	}

	os.Chmod(filepath.Join(plugins, "lrsgd-r"), 0o644)
	r = runTune(t, dir, "--study", "gamma-sweep", "--set", "dataset=synthetic", "--plugins-dir", plugins, "--dry-run")
	want := filepath.Join(plugins, "lrsgd-r") + " is not executable (mode -rw-r--r--"
	if r.code != 2 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "unknown optimizer") {
		t.Errorf("exit %d, want 2 and %q, not \"unknown optimizer\"\n%s", r.code, want, r)
	}
}
