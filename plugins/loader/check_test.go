package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

func TestPluginEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"allow-list", []string{"PATH=/bin", "HOME=/h", "TMPDIR=/t", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC", "GOMAXPROCS=1", "USER=me", "SHELL=/bin/sh"},
			[]string{"PATH=/bin", "HOME=/h", "TMPDIR=/t", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC", "GOMAXPROCS=1"}},
		{"the store's secrets", []string{"LRSGD_STORAGE=postgres://u:pw@h/db", "PGPASSWORD=pw", "PGPASSFILE=/p", "PGUSER=u", "PATH=/bin"},
			[]string{"PATH=/bin"}},
		{"the plugins' own settings", []string{"LRSGD_PLUGIN_STEP_RPC=1", "LRSGD_PLUGIN_MYOPT_THREADS=4", "LRSGD_PLUGINS=/d", "LRSGD_DATA=/data"},
			[]string{"LRSGD_PLUGIN_STEP_RPC=1", "LRSGD_PLUGIN_MYOPT_THREADS=4"}},
		{"named by LRSGD_PLUGIN_ENV", []string{"OMP_NUM_THREADS=2", "LRSGD_PLUGIN_ENV=OMP_NUM_THREADS, CUDA_VISIBLE_DEVICES,PGPASSWORD,LRSGD_STORAGE", "CUDA_VISIBLE_DEVICES=0", "PGPASSWORD=pw", "LRSGD_STORAGE=x.db", "OTHER=1"},
			[]string{"OMP_NUM_THREADS=2", "LRSGD_PLUGIN_ENV=OMP_NUM_THREADS, CUDA_VISIBLE_DEVICES,PGPASSWORD,LRSGD_STORAGE", "CUDA_VISIBLE_DEVICES=0"}},
		{"malformed entries", []string{"=x", "NOEQUALS", "PATH=/bin"}, []string{"PATH=/bin"}},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PluginEnv(tt.environ); !slices.Equal(got, tt.want) {
				t.Errorf("PluginEnv(%q) = %q, want %q", tt.environ, got, tt.want)
			}
		})
	}
}

// TestPluginEnvironment: a plugin process does not see the store's DSN or
// libpq's variables from the host's environment, and does see PATH, its
// own settings and go-plugin's handshake.
func TestPluginEnvironment(t *testing.T) {
	const secret = "s3cret-Pw"
	t.Setenv("LRSGD_STORAGE", "postgres://lab:"+secret+"@db.example/lrsgd")
	t.Setenv("PGPASSWORD", secret)
	t.Setenv("PGUSER", "lab")
	t.Setenv("SOME_TOKEN", secret)
	t.Setenv("LRSGD_PLUGIN_TEST_SETTING", "on")
	opts, _ := testOptions(t, pluginDir(t, "testplugin"))
	o := open(t, "testplugin", opts)
	pid := o.(*remote).cmd.Process.Pid
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, name := range []string{"LRSGD_STORAGE", "PGPASSWORD", "PGUSER", "SOME_TOKEN"} {
		if _, ok := env[name]; ok {
			t.Errorf("the plugin's environment holds %s", name)
		}
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Errorf("the plugin's environment holds the password:\n%s", bytes.ReplaceAll(raw, []byte{0}, []byte{'\n'}))
	}
	want := map[string]string{"PATH": os.Getenv("PATH"), "LRSGD_PLUGIN_TEST_SETTING": "on", "LRSGD_OPTIMIZER_PLUGIN": "lrsgd-optimizer-plugin-9f3c2a7e5b1d4c08"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("the plugin's $%s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["PLUGIN_PROTOCOL_VERSIONS"]; !ok {
		t.Error("the plugin's environment lacks go-plugin's PLUGIN_PROTOCOL_VERSIONS")
	}
	if _, err := o.Init(context.Background(), optimizer.InitConfig{NumParams: 4}); err != nil {
		t.Fatalf("Init in the clean environment: %v", err)
	}
}

// TestCheck: Check asks the plugin to judge a configuration; refusals name
// the plugin and leave it usable; a plugin built before the Check RPC is
// judged on its description alone.
func TestCheck(t *testing.T) {
	dir := pluginDir(t, "testplugin", "sgd", "lrsgd-r")
	tests := []struct {
		name, plugin, old string
		hp                map[string]string
		lr                float64
		want              string // substring of the refusal; "" to accept
	}{
		{"accepted", "lrsgd-r", "", map[string]string{"gamma": "0.2", "nesterov": "true"}, 0.1, ""},
		{"nesterov with dampening", "lrsgd-r", "", map[string]string{"nesterov": "true", "dampening": "0.5"}, 0.1,
			`plugin "lrsgd-r" (` + filepath.Join(dir, "lrsgd-r") + `): check: lrsgd-r: nesterov=true needs momentum > 0 and dampening = 0`},
		{"delta at least lambda", "lrsgd-r", "", map[string]string{"m_policy": "psi", "delta": "0.5"}, 0.1, "at lr=0.1: m_policy=psi needs lambda_coef/lr > delta"},
		{"delta at least lambda, lr not known", "lrsgd-r", "", map[string]string{"m_policy": "psi", "delta": "0.5"}, 0, ""},
		{"sgd nesterov without momentum", "sgd", "", map[string]string{"nesterov": "true", "momentum": "0"}, 0.1, "sgd: nesterov=true needs momentum > 0"},
		{"out of range, before the optimizer", "sgd", "", map[string]string{"momentum": "2"}, 0.1, `sgd: hyperparameter momentum="2": out of range; valid: float [0, 0.9999]`},
		{"toy checker", "testplugin", "", map[string]string{"nesterov": "true", "momentum": "0"}, 0.1, "toy: nesterov=true needs momentum > 0"},
		{"toy checker gets the lr", "testplugin", "", nil, 11, "toy: lr=11, want at most 10"},
		{"old plugin: its own rules not known", "testplugin", "1", map[string]string{"nesterov": "true", "momentum": "0"}, 11, ""},
		{"old plugin: names checked on its description", "testplugin", "1", map[string]string{"gama": "1"}, 0.1,
			`plugin "testplugin" (` + filepath.Join(dir, "testplugin") + `): check: toy: unknown hyperparameter "gama"`},
		{"old plugin: ranges checked on its description", "testplugin", "1", map[string]string{"momentum": "2"}, 0.1, `toy: hyperparameter momentum="2": out of range`},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LRSGD_PLUGIN_TEST_OLD", tt.old)
			opts, logs := testOptions(t, dir)
			o := open(t, tt.plugin, opts)
			err := o.(optimizer.Checker).Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: tt.hp}, LR: tt.lr})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check: %v, want an error containing %q", err, tt.want)
			case errors.Is(err, ErrPluginStopped):
				t.Fatalf("Check: %v matches ErrPluginStopped; want a refusal by a running plugin", err)
			}
			if tt.old == "1" {
				o.(optimizer.Checker).Check(ctx, optimizer.CheckConfig{LR: 0.1})
				if n := strings.Count(logs.String(), "plugin predates the Check RPC"); n != 1 {
					t.Errorf("host log has the note on the old plugin %d times, want once:\n%s", n, logs)
				}
			}
			b, err := o.Init(ctx, optimizer.InitConfig{NumParams: 20})
			if err != nil {
				t.Fatalf("Init after Check: %v", err)
			}
			runSteps(t, o, b, 0, 3)
			o.Close()
			if err := o.(optimizer.Checker).Check(ctx, optimizer.CheckConfig{}); !errors.Is(err, ErrPluginStopped) {
				t.Errorf("Check after Close: %v, want an error matching ErrPluginStopped", err)
			}
		})
	}
}

// TestInvalidDescription: a plugin whose Describe declares a name twice
// or a default outside its own range is refused when it is opened, and
// listed with the reason.
func TestInvalidDescription(t *testing.T) {
	dir := pluginDir(t, "testplugin")
	path := filepath.Join(dir, "testplugin")
	for _, tt := range []struct{ fault, want string }{
		{"duplicate", `hyperparameter "momentum" declared twice`},
		{"default", `default of momentum: hyperparameter momentum="7": want a number in [0, 1]`},
	} {
		t.Run(tt.fault, func(t *testing.T) {
			t.Setenv("LRSGD_PLUGIN_TEST_DESCRIBE", tt.fault)
			opts, _ := testOptions(t, dir)
			o, err := Open(context.Background(), "testplugin", opts)
			if err == nil {
				o.Close()
				t.Fatal("Open succeeded, want a refusal of the description")
			}
			want := `plugin "testplugin" (` + path + `): describe: invalid description: ` + tt.want + "; not used"
			if err.Error() != want {
				t.Errorf("Open: %v\nwant %s", err, want)
			}
			infos, err := List(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 1 || infos[0].Err == nil || !strings.Contains(infos[0].Err.Error(), tt.want) {
				t.Errorf("List: %+v, want testplugin refused with %q", infos, tt.want)
			}
		})
	}
}

func TestMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nosuch")
	opts, _ := testOptions(t, dir)
	if _, err := List(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "read plugin directory "+dir+" (set by --plugins-dir, $LRSGD_PLUGINS") {
		t.Errorf("List of a missing directory: %v, want an error naming --plugins-dir", err)
	}
	_, err := Open(context.Background(), "sgd", opts)
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.DirErr == nil || nf.Found != nil || !strings.Contains(err.Error(), `plugin "sgd": no file `+filepath.Join(dir, "sgd")+": read plugin directory") {
		t.Errorf("Open in a missing directory: %v (%#v), want a *NotFoundError naming the directory", err, nf)
	}
}
