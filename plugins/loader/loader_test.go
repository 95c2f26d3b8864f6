package loader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk/sdktest"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testOptions(t testing.TB, dir string) (Options, *syncBuffer) {
	logs := &syncBuffer{}
	return Options{
		Dir:        dir,
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Debug, Output: logs}),
		RPCTimeout: 20 * time.Second,
	}, logs
}

func open(t testing.TB, name string, opts Options) optimizer.Optimizer {
	t.Helper()
	o, err := Open(context.Background(), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestResolveDir(t *testing.T) {
	tests := []struct{ flag, env, want string }{
		{"/x/flag", "/x/env", "/x/flag"},
		{"", "/x/env", "/x/env"},
		{"", "", DefaultDir},
	}
	for _, tt := range tests {
		t.Setenv(EnvDir, tt.env)
		if got := ResolveDir(tt.flag); got != tt.want {
			t.Errorf("ResolveDir(%q) with $%s=%q = %q, want %q", tt.flag, EnvDir, tt.env, got, tt.want)
		}
	}
	t.Setenv(EnvManifest, "/m/env")
	if got := ResolveManifest(""); got != "/m/env" {
		t.Errorf("ResolveManifest(\"\") = %q, want $%s", got, EnvManifest)
	}
	if got := ResolveManifest("/m/flag"); got != "/m/flag" {
		t.Errorf("ResolveManifest(flag) = %q, want the flag", got)
	}
}

func TestReadManifest(t *testing.T) {
	dir := t.TempDir()
	a, b := strings.Repeat("ab", 32), strings.Repeat("01", 32)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("# pinned\n"+a+"  sgd\n\n"+b+" *bin/plugins/lrsgd-r\n"), 0o644)
	sums, err := ReadManifest(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || fmt.Sprintf("%x", sums["sgd"]) != a || fmt.Sprintf("%x", sums["lrsgd-r"]) != b {
		t.Fatalf("ReadManifest = %x, want sgd=%s lrsgd-r=%s", sums, a, b)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte(a+"  sgd\nxyz  lrsgd-r\n"), 0o644)
	if _, err := ReadManifest(bad); err == nil || !strings.Contains(err.Error(), bad+":2") {
		t.Fatalf("ReadManifest of a bad line: %v, want an error naming %s:2", err, bad)
	}
}

func TestListAndFormat(t *testing.T) {
	dir := pluginDir(t, "testplugin", "sgd", "notplugin")
	os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("not executable\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "script"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	opts, _ := testOptions(t, dir)
	infos, err := List(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	if got := strings.Join(names, ","); got != "notplugin,script,sgd,testplugin" {
		t.Fatalf("List names = %s, want notplugin,script,sgd,testplugin", got)
	}
	for _, in := range infos[:2] {
		if in.Err == nil || !strings.Contains(in.Err.Error(), in.Path+" is not an LRSGD optimizer plugin") {
			t.Errorf("List: %s: Err = %v, want a refusal naming %s", in.Name, in.Err, in.Path)
		}
	}
	if infos[2].Err != nil || infos[2].Desc.Name != "sgd" || infos[3].Err != nil || infos[3].Desc.Name != "toy" {
		t.Fatalf("List: sgd=%+v, testplugin=%+v; want both described", infos[2], infos[3])
	}
	var out bytes.Buffer
	if err := FormatList(&out, infos); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"notplugin: refused: plugin \"notplugin\": " + filepath.Join(dir, "notplugin") + " is not an LRSGD optimizer plugin",
		"[testplugin] toy 1.0.0, state vectors: 2 — test optimizer",
		"NAME TYPE DEFAULT VALID DOC",
		"momentum float 0.9 [0, 1] heavy-ball momentum",
		"lambda float 0.5 [0, +Inf] proximal weight",
		"draw enum geometric geometric|one M_t policy",
		"[sgd] sgd ",
		"weight_decay float 0.0001 [0, 1]",
	} {
		// Compare with runs of spaces collapsed: column widths depend on the widest entry.
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("FormatList output lacks %q:\n%s", want, out.String())
		}
	}
}

// runSteps feeds the same deterministic gradients to o for steps
// [from, to) with a schedule that changes lr, and returns the results.
func runSteps(t testing.TB, o optimizer.Optimizer, b optimizer.Buffers, from, to int64) []optimizer.StepResult {
	t.Helper()
	var res []optimizer.StepResult
	for s := from; s < to; s++ {
		sdktest.Grad(b.Grads, b.Params, s)
		lr := 0.1
		if s >= 25 {
			lr = 0.01
		}
		r, err := o.Step(context.Background(), optimizer.StepRequest{Step: s, LR: lr})
		if err != nil {
			t.Fatalf("step %d: %v", s, err)
		}
		res = append(res, r)
	}
	return res
}

func initParams(b optimizer.Buffers) {
	for i := range b.Params {
		b.Params[i] = float32(math.Sin(float64(i)))
	}
}

type pluginCase struct {
	plugin string
	inproc func() optimizer.Optimizer
	hp     map[string]string
}

var pluginCases = []pluginCase{
	{"testplugin", func() optimizer.Optimizer { return sdktest.New() }, map[string]string{"gamma": "0.3", "nesterov": "true"}},
	{"sgd", blocks.NewSGD, nil},
	{"sgd", blocks.NewSGD, map[string]string{"nesterov": "true", "weight_decay": "0.01"}},
	{"lrsgd-r", blocks.NewLRSGDR, nil},
	{"lrsgd-r", blocks.NewLRSGDR, map[string]string{"preset": "paper"}},
	{"lrsgd-c", blocks.NewLRSGDC, nil},
	{"lrsgd-c", blocks.NewLRSGDC, map[string]string{"m_policy": "psi", "m_max": "7"}},
	{"adam-lr", blocks.NewAdamLR, nil},
}

// forTransports runs f as two subtests: Steps on the step channel (the
// default) and as gRPC calls (Options.StepRPC).
func forTransports(t *testing.T, f func(t *testing.T, stepRPC bool)) {
	t.Run("channel", func(t *testing.T) { f(t, false) })
	t.Run("rpc", func(t *testing.T) { f(t, true) })
}

// TestPluginMatchesInProcess: the same update sequence through a plugin
// process and in-process gives bit-identical parameters, state and step
// results, with Steps on the step channel and, for the first and the
// lrsgd-r cases, as gRPC calls too.
func TestPluginMatchesInProcess(t *testing.T) {
	const n, steps = 1003, 40
	dir := pluginDir(t, "testplugin", "sgd", "lrsgd-r", "lrsgd-c", "adam-lr")
	cases := []struct {
		pluginCase
		stepRPC bool
	}{{pluginCases[0], true}, {pluginCases[3], true}}
	for _, pc := range pluginCases {
		cases = append(cases, struct {
			pluginCase
			stepRPC bool
		}{pc, false})
	}
	for _, pc := range cases {
		t.Run(fmt.Sprintf("%s%v/step-rpc=%v", pc.plugin, pc.hp, pc.stepRPC), func(t *testing.T) {
			cfg := optimizer.InitConfig{NumParams: n, Seed: 11, Hyperparams: pc.hp}
			ctx := context.Background()
			ref := pc.inproc()
			defer ref.Close()
			rb, err := ref.Init(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			initParams(rb)
			want := runSteps(t, ref, rb, 0, steps)

			opts, logs := testOptions(t, dir)
			opts.StepRPC = pc.stepRPC
			o := open(t, pc.plugin, opts)
			// A first Init with another size exercises re-mapping.
			if _, err := o.Init(ctx, optimizer.InitConfig{NumParams: 10, Seed: 1}); err != nil {
				t.Fatal(err)
			}
			b, err := o.Init(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r := o.(*remote); r.useSteps == pc.stepRPC || (r.steps == nil) != pc.stepRPC {
				t.Fatalf("step channel in use: %v (channel made: %v), want %v", r.useSteps, r.steps != nil, !pc.stepRPC)
			}
			initParams(b)
			got := runSteps(t, o, b, 0, steps)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("step %d: plugin %+v, in-process %+v", i, got[i], want[i])
				}
			}
			sdktest.SameBits(t, "params", b.Params, rb.Params)
			sdktest.SameBits(t, "state", b.State, rb.State)
			if err := o.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// The plugin's own log lines reach the host logger.
			if l := logs.String(); !strings.Contains(l, "initialised") || !strings.Contains(l, fmt.Sprintf("params=%d", n)) {
				t.Errorf("host log lacks the plugin's \"initialised\" line:\n%s", l)
			}
		})
	}
}

// TestSaveKillRestore: Save, kill -9 the plugin, start a new one, Init,
// copy Params and State back, Restore, continue: bit-identical to an
// uninterrupted run.
func TestSaveKillRestore(t *testing.T) {
	const n, cut, steps = 517, 23, 50
	dir := pluginDir(t, "testplugin", "sgd", "lrsgd-r", "lrsgd-c", "adam-lr")
	for _, pc := range pluginCases {
		t.Run(fmt.Sprintf("%s%v", pc.plugin, pc.hp), func(t *testing.T) {
			ctx := context.Background()
			cfg := optimizer.InitConfig{NumParams: n, Seed: 3, Hyperparams: pc.hp}
			opts, _ := testOptions(t, dir)

			whole := open(t, pc.plugin, opts)
			wb, err := whole.Init(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			initParams(wb)
			want := runSteps(t, whole, wb, 0, steps)

			first := open(t, pc.plugin, opts)
			fb, err := first.Init(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			initParams(fb)
			runSteps(t, first, fb, 0, cut)
			ck := sdktest.Save(t, first, fb)
			if err := first.(*remote).cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if _, err := first.Step(ctx, optimizer.StepRequest{Step: cut, LR: 0.1}); err == nil {
				t.Fatal("Step on a killed plugin succeeded")
			}

			second := open(t, pc.plugin, opts)
			sb, err := second.Init(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ck.Restore(t, second, sb)
			got := runSteps(t, second, sb, cut, steps)
			for i := range got {
				if got[i] != want[cut+i] {
					t.Fatalf("step %d: resumed %+v, uninterrupted %+v", cut+i, got[i], want[cut+i])
				}
			}
			sdktest.SameBits(t, "params", sb.Params, wb.Params)
			sdktest.SameBits(t, "state", sb.State, wb.State)
		})
	}
}

// TestCrashMidStep: a plugin killed with SIGKILL in the middle of a step.
func TestCrashMidStep(t *testing.T) {
	forTransports(t, crashMidStep)
}

func crashMidStep(t *testing.T, stepRPC bool) {
	dir := pluginDir(t, "testplugin")
	opts, _ := testOptions(t, dir)
	opts.StepRPC = stepRPC
	ctx := context.Background()
	t.Setenv("LRSGD_PLUGIN_TEST_CRASH_AT_STEP", "5")
	o := open(t, "testplugin", opts)
	b, err := o.Init(ctx, optimizer.InitConfig{NumParams: 100})
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, o, b, 0, 5)
	_, err = o.Step(ctx, optimizer.StepRequest{Step: 5, LR: 0.1})
	path := filepath.Join(dir, "testplugin")
	for _, want := range []string{`plugin "testplugin"`, path, "step 5", "plugin process died (signal: killed)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Step 5 of a plugin that dies: %v, want an error containing %q", err, want)
		}
	}
	_, err = o.Step(ctx, optimizer.StepRequest{Step: 6, LR: 0.1})
	if err == nil || !strings.Contains(err.Error(), "step 6: plugin stopped after an earlier failure") || !errors.Is(err, ErrPluginStopped) {
		t.Fatalf("Step after the crash: %v, want a refusal naming the earlier failure, matching ErrPluginStopped", err)
	}
	b.Params[0] = 1 // the host's mapping outlives the plugin
	if err := o.Close(); err != nil {
		t.Fatalf("Close after a crash: %v", err)
	}

	// A fresh plugin starts and works.
	t.Setenv("LRSGD_PLUGIN_TEST_CRASH_AT_STEP", "")
	o2 := open(t, "testplugin", opts)
	b2, err := o2.Init(ctx, optimizer.InitConfig{NumParams: 100})
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, o2, b2, 0, 10)
}

// TestHang: a plugin that never answers runs into the RPC deadline and is
// stopped.
func TestHang(t *testing.T) {
	forTransports(t, hang)
}

func hang(t *testing.T, stepRPC bool) {
	dir := pluginDir(t, "testplugin")
	opts, _ := testOptions(t, dir)
	opts.StepRPC = stepRPC
	opts.RPCTimeout = 2 * time.Second
	ctx := context.Background()
	t.Setenv("LRSGD_PLUGIN_TEST_HANG_AT_STEP", "2")
	o := open(t, "testplugin", opts)
	b, err := o.Init(ctx, optimizer.InitConfig{NumParams: 10})
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, o, b, 0, 2)
	_, err = o.Step(ctx, optimizer.StepRequest{Step: 2, LR: 0.1})
	want := fmt.Sprintf(`plugin "testplugin" (%s): step 2: no reply within 2s (RPC deadline, --rpc-timeout)`, filepath.Join(dir, "testplugin"))
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrPluginStopped) {
		t.Fatalf("Step of a hung plugin: %v, want an error containing %q", err, want)
	}
	r := o.(*remote)
	if !r.client.Exited() {
		t.Fatal("the hung plugin process is still running")
	}
	if err := o.Close(); err != nil {
		t.Fatalf("Close after a hang: %v", err)
	}
}

// TestCancel: cancelling the caller's context mid-step stops the plugin.
func TestCancel(t *testing.T) {
	forTransports(t, cancel)
}

func cancel(t *testing.T, stepRPC bool) {
	dir := pluginDir(t, "testplugin")
	opts, _ := testOptions(t, dir)
	opts.StepRPC = stepRPC
	t.Setenv("LRSGD_PLUGIN_TEST_HANG_AT_STEP", "0")
	o := open(t, "testplugin", opts)
	if _, err := o.Init(context.Background(), optimizer.InitConfig{NumParams: 10}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := o.Step(ctx, optimizer.StepRequest{Step: 0, LR: 0.1})
	if err == nil || !strings.Contains(err.Error(), "step 0: context canceled; plugin stopped") {
		t.Fatalf("cancelled Step: %v, want a cancellation error", err)
	}
}

// TestRefusals: files that must not be run, and a wrong protocol version.
func TestRefusals(t *testing.T) {
	dir := pluginDir(t, "testplugin", "notplugin")
	marker := filepath.Join(t.TempDir(), "ran")
	t.Setenv("LRSGD_PLUGIN_TEST_TOUCH", marker)
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	sum := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", sha256.Sum256(data))
	}
	wrong := filepath.Join(dir, "wrong.sums")
	os.WriteFile(wrong, []byte(strings.Repeat("00", 32)+"  testplugin\n"), 0o644)
	other := filepath.Join(dir, "other.sums")
	os.WriteFile(other, []byte(sum("notplugin")+"  notplugin\n"), 0o644)

	tests := []struct {
		name, plugin, manifest, env string
		want                        []string
		ran                         bool // the binary was started (protocol check needs it)
	}{
		{"not a plugin (Go program)", "notplugin", "", "", []string{`plugin "notplugin"`, filepath.Join(dir, "notplugin") + " is not an LRSGD optimizer plugin", "not started"}, false},
		{"not a plugin (script)", "script", "", "", []string{script + " is not an LRSGD optimizer plugin"}, false},
		{"not executable", "data", "", "", []string{filepath.Join(dir, "data") + " is not executable (mode -rw-r--r--; `chmod +x` it"}, false},
		{"a folder", "sub", "", "", []string{filepath.Join(dir, "sub") + " is not a regular file (mode d"}, false},
		{"missing", "nosuch", "", "", []string{`plugin "nosuch": no file ` + filepath.Join(dir, "nosuch"), "plugins found there: notplugin, script, testplugin"}, false},
		{"path as name", "../testplugin", "", "", []string{"not a plugin name"}, false},
		{"checksum mismatch", "testplugin", wrong, "", []string{filepath.Join(dir, "testplugin") + " fails its pinned checksum: sha256 " + sum("testplugin"), "pins " + strings.Repeat("00", 32), "not started"}, false},
		{"not in manifest", "testplugin", other, "", []string{"is not listed in manifest " + other}, false},
		{"other protocol version", "testplugin", "", "99", []string{`plugin "testplugin" (` + filepath.Join(dir, "testplugin") + "): start:", "Plugin version: 99", "Client versions: [1]"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(marker)
			t.Setenv("LRSGD_PLUGIN_TEST_PROTOCOL", tt.env)
			opts, _ := testOptions(t, dir)
			opts.Manifest = tt.manifest
			o, err := Open(context.Background(), tt.plugin, opts)
			if err == nil {
				o.Close()
				t.Fatalf("Open(%q) succeeded, want a refusal", tt.plugin)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q): %v\nwant it to contain %q", tt.plugin, err, w)
				}
			}
			var nf *NotFoundError
			if errors.As(err, &nf) != (tt.name == "missing") {
				t.Errorf("Open(%q): %v is a *NotFoundError: %v", tt.plugin, err, nf != nil)
			}
			if _, statErr := os.Stat(marker); (statErr == nil) != tt.ran {
				t.Errorf("Open(%q): binary ran = %v, want %v", tt.plugin, statErr == nil, tt.ran)
			}
		})
	}

	// The right checksum passes (and go-plugin's SecureConfig re-checks it).
	good := filepath.Join(dir, "good.sums")
	os.WriteFile(good, []byte(sum("testplugin")+"  testplugin\n"), 0o644)
	opts, _ := testOptions(t, dir)
	opts.Manifest = good
	o := open(t, "testplugin", opts)
	if _, err := o.Init(context.Background(), optimizer.InitConfig{NumParams: 4}); err != nil {
		t.Fatal(err)
	}
}

// TestInitRefusesHyperparams: bad hyperparameters are refused at Init with
// the valid range, and the plugin stays usable.
func TestInitRefusesHyperparams(t *testing.T) {
	dir := pluginDir(t, "lrsgd-r")
	opts, _ := testOptions(t, dir)
	o := open(t, "lrsgd-r", opts)
	ctx := context.Background()
	tests := []struct {
		hp   map[string]string
		want string
	}{
		{map[string]string{"gama": "0.1"}, `plugin "lrsgd-r" (` + filepath.Join(dir, "lrsgd-r") + `): init: lrsgd-r: unknown hyperparameter "gama"; valid names: preset,`},
		{map[string]string{"gamma": "1.5"}, `lrsgd-r: hyperparameter gamma="1.5": out of range; valid: float [1e-06, 1]`},
		{map[string]string{"m_policy": "poisson"}, `valid: enum geometric|constant|psi`},
	}
	for _, tt := range tests {
		_, err := o.Init(ctx, optimizer.InitConfig{NumParams: 10, Hyperparams: tt.hp})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Init(%v): %v\nwant it to contain %q", tt.hp, err, tt.want)
		}
	}
	b, err := o.Init(ctx, optimizer.InitConfig{NumParams: 10, Hyperparams: map[string]string{"gamma": "0.5"}})
	if err != nil {
		t.Fatalf("Init after refusals: %v", err)
	}
	runSteps(t, o, b, 0, 3)
}

// TestScanAcrossChunks: the handshake cookie is found wherever it lies,
// including across the 1 MiB read boundary, and the checksum is sha256.
func TestScanAcrossChunks(t *testing.T) {
	needle := []byte("cookie-value-0123456789")
	for _, at := range []int{0, 1<<20 - 5, 1 << 20, 3<<20 - len(needle)} {
		data := make([]byte, 3<<20)
		copy(data[at:], needle)
		path := filepath.Join(t.TempDir(), "f")
		os.WriteFile(path, data, 0o755)
		sum, found, err := scan(path, needle, true)
		if err != nil || !found || !bytes.Equal(sum, func() []byte { s := sha256.Sum256(data); return s[:] }()) {
			t.Errorf("cookie at %d: found=%v err=%v sum ok=%v", at, found, err, err == nil)
		}
	}
	path := filepath.Join(t.TempDir(), "g")
	os.WriteFile(path, make([]byte, 2<<20), 0o755)
	if _, found, _ := scan(path, needle, false); found {
		t.Error("scan found a cookie in a file of zeros")
	}
}
