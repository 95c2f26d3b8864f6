package loader

import (
	"slices"
	"strings"
)

const (
	// EnvPrefix starts the names of the host's variables that a plugin
	// process receives besides those PluginEnv passes by name: the
	// plugins' own settings (LRSGD_PLUGIN_STEP_RPC, or
	// LRSGD_PLUGIN_MYOPT_THREADS for a third party's plugin "myopt").
	EnvPrefix = "LRSGD_PLUGIN_"
	// EnvPass names a variable holding a comma-separated list of further
	// variables to pass to plugin processes, such as
	// "OMP_NUM_THREADS,CUDA_VISIBLE_DEVICES". The store's secrets are
	// never passed, even when listed there.
	EnvPass = "LRSGD_PLUGIN_ENV"
)

// passEnv are the variables PluginEnv passes by name.
var passEnv = []string{
	"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LANGUAGE",
	"GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG", "GOTRACEBACK",
}

// secret reports whether a variable of that name may hold a password of
// the store: no plugin receives it.
func secret(name string) bool {
	return name == "LRSGD_STORAGE" || strings.HasPrefix(name, "PG")
}

// PluginEnv returns the entries of environ ("NAME=value", as os.Environ
// returns them) that a plugin process receives, in their order: where
// programs and the temporary folder are (PATH, HOME, TMPDIR), the locale
// and time zone (LANG, LANGUAGE, LC_*, TZ), the Go runtime's settings
// (GOMAXPROCS, GOGC, GOMEMLIMIT, GODEBUG, GOTRACEBACK), the variables
// starting with EnvPrefix and those named by $LRSGD_PLUGIN_ENV (EnvPass).
// Never the store's DSN (LRSGD_STORAGE) or libpq's PG* variables
// (PGPASSWORD, ...), even when $LRSGD_PLUGIN_ENV names them. Open starts
// plugins with PluginEnv(os.Environ()) and go-plugin's own handshake
// variables (the magic cookie, PLUGIN_PROTOCOL_VERSIONS, ...), nothing else.
func PluginEnv(environ []string) []string {
	var extra []string
	for _, kv := range environ {
		if name, value, _ := strings.Cut(kv, "="); name == EnvPass {
			extra = append(extra, strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' })...)
		}
	}
	var env []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || secret(name) {
			continue
		}
		if slices.Contains(passEnv, name) || strings.HasPrefix(name, "LC_") ||
			strings.HasPrefix(name, EnvPrefix) || slices.Contains(extra, name) {
			env = append(env, kv)
		}
	}
	return env
}
