// Package loader finds optimizer plugins in a directory, starts them as
// go-plugin subprocesses and hands them to the host as
// optimizer.Optimizer values.
//
// An opened plugin shares one memfd with the host: the host creates it,
// passes it to the plugin process as descriptor sdk.ShmFD at launch, sizes
// it at Init to hold Params, Grads and State, and both processes map it.
// Only control crosses gRPC, so a Step costs one round trip whatever the
// number of parameters.
//
// Before a binary is started it must be a regular executable file in the
// plugin directory, contain the plugin handshake cookie (otherwise it is
// not an optimizer plugin and is not run) and, when a manifest is given,
// have the sha256 the manifest pins. Every RPC has a deadline; a plugin that
// misses it, dies or is cancelled mid-call is killed, and the Optimizer
// returns an error naming the plugin, its file and the call from then on.
//
// A plugin runs with a clean environment: only the variables PluginEnv
// lets through, never the host's secrets (the store's DSN in
// $LRSGD_STORAGE, libpq's PG* variables).
package loader

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

const (
	// DefaultDir is the plugin directory used when neither a flag nor
	// EnvDir names one: where `make` builds the plugins.
	DefaultDir = "bin/plugins"
	// EnvDir is the environment variable that names the plugin directory.
	EnvDir = "LRSGD_PLUGINS"
	// EnvManifest is the environment variable that names the manifest.
	EnvManifest = "LRSGD_PLUGIN_MANIFEST"
	// DefaultRPCTimeout is the deadline of each RPC when Options.RPCTimeout
	// is zero. Init gets InitTimeoutFactor times as long, and so does the
	// start of the plugin process (at least 10 s).
	DefaultRPCTimeout = 30 * time.Second
	// EnvStepRPC is the environment variable that, set to 1, sets
	// Options.StepRPC.
	EnvStepRPC = "LRSGD_PLUGIN_STEP_RPC"
	// InitTimeoutFactor multiplies the RPC deadline for Init, which maps and
	// initialises all the vectors.
	InitTimeoutFactor = 4
)

// NotFoundError is the error of Open for a name that has no file in the
// plugin directory.
type NotFoundError struct {
	Name string // the name asked for
	Path string // the file that does not exist
	Dir  string // the plugin directory
	// Found are the executable files in Dir, sorted (nil if Dir could not
	// be read).
	Found []string
	// DirErr is why Dir could not be read, or nil.
	DirErr error
}

// Error implements error.
func (e *NotFoundError) Error() string {
	if e.DirErr != nil {
		return fmt.Sprintf("plugin %q: no file %s: %v", e.Name, e.Path, e.DirErr)
	}
	return fmt.Sprintf("plugin %q: no file %s (plugins found there: %s)", e.Name, e.Path, orNone(e.Found))
}

// Options configure where plugins are found and how they are run.
type Options struct {
	// Dir is the plugin directory; "" means ResolveDir("").
	Dir string
	// Manifest is a file of "sha256  name" lines (sha256sum's output
	// format). If set, a plugin is started only if the manifest lists it
	// and its file has that sha256. "" means no pinning.
	Manifest string
	// Logger receives the loader's and the plugins' log lines (plugins log
	// through hclog on stderr; go-plugin forwards each line at its level).
	// nil means warnings and errors to os.Stderr.
	Logger hclog.Logger
	// RPCTimeout is the deadline of each RPC; 0 means DefaultRPCTimeout.
	RPCTimeout time.Duration
	// StepRPC sends Steps as gRPC calls instead of on the step channel, a
	// socket pair dedicated to Steps that the host passes to the plugin
	// (see sdk.StepConn; its round trip is shorter after idle waits).
	// Setting $LRSGD_PLUGIN_STEP_RPC=1 does the same. Plugins built before
	// the step channel existed get gRPC Steps either way.
	StepRPC bool
}

func (o Options) dir() string {
	if o.Dir != "" {
		return o.Dir
	}
	return ResolveDir("")
}

func (o Options) timeout() time.Duration {
	if o.RPCTimeout > 0 {
		return o.RPCTimeout
	}
	return DefaultRPCTimeout
}

func (o Options) stepRPC() bool { return o.StepRPC || os.Getenv(EnvStepRPC) == "1" }

func (o Options) logger() hclog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr})
}

// ResolveDir returns the plugin directory: flag if not empty, else
// $LRSGD_PLUGINS if set, else DefaultDir.
func ResolveDir(flag string) string {
	if flag != "" {
		return flag
	}
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return DefaultDir
}

// ResolveManifest returns the manifest path: flag if not empty, else
// $LRSGD_PLUGIN_MANIFEST (which may be empty: no pinning).
func ResolveManifest(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv(EnvManifest)
}

// Info describes one executable found in the plugin directory.
type Info struct {
	Name string                // file name, the name Open takes
	Path string                // path of the file
	Desc optimizer.Description // what the plugin said about itself; zero if Err != nil
	Err  error                 // why the file was refused or could not describe itself
}

// List starts every executable file in the plugin directory in turn, asks
// it to describe itself and stops it. Files that are not plugins, fail
// their checksum or do not answer are listed with Err set. The error is
// non-nil only if the directory cannot be read or ctx is done.
func List(ctx context.Context, opts Options) ([]Info, error) {
	dir := opts.dir()
	names, err := executables(dir)
	if err != nil {
		return nil, err
	}
	infos := make([]Info, 0, len(names))
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return infos, fmt.Errorf("list plugins in %s: %w", dir, err)
		}
		info := Info{Name: name, Path: filepath.Join(dir, name)}
		p, err := start(ctx, name, opts)
		if err != nil {
			info.Err = err
		} else {
			info.Desc = p.desc
			if err := p.Close(); err != nil {
				info.Err = err
			}
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// Open starts the plugin called name (a file in the plugin directory) and
// returns it as an optimizer.Optimizer. The caller must Close it, which
// stops the process. Buffers returned by its Init are views of shared
// memory: they are valid until the next Init with another size or Close.
func Open(ctx context.Context, name string, opts Options) (optimizer.Optimizer, error) {
	p, err := start(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// executables returns the names of the regular, executable, non-hidden
// files in dir, sorted.
func executables(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read plugin directory %s (set by --plugins-dir, $%s or default %s): %w", dir, EnvDir, DefaultDir, err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// checkFile refuses, without running it, a file that is not an executable
// regular file, does not contain the handshake cookie, or does not have the
// pinned checksum. It returns the checksum go-plugin verifies again right
// before it starts the file (nil when nothing is pinned).
func checkFile(name, path, manifest string) ([]byte, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("plugin %q: not a plugin name (want a file name in the plugin directory, no path)", name)
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			dir := filepath.Dir(path)
			names, dirErr := executables(dir)
			return nil, &NotFoundError{Name: name, Path: path, Dir: dir, Found: names, DirErr: dirErr}
		}
		return nil, fmt.Errorf("plugin %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("plugin %q: %s is not a regular file (mode %v); not started", name, path, fi.Mode())
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("plugin %q: %s is not executable (mode %v; `chmod +x` it to use it as a plugin); not started", name, path, fi.Mode())
	}
	var want []byte
	if manifest != "" {
		sums, err := ReadManifest(manifest)
		if err != nil {
			return nil, fmt.Errorf("plugin %q: %w", name, err)
		}
		var ok bool
		if want, ok = sums[name]; !ok {
			return nil, fmt.Errorf("plugin %q: %s is not listed in manifest %s; not started (add it with `sha256sum %s >> %s`)", name, path, manifest, path, manifest)
		}
	}
	sum, cookie, err := scan(path, []byte(sdk.MagicCookieValue), want != nil)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: read %s: %w", name, path, err)
	}
	if want != nil && !bytes.Equal(sum, want) {
		return nil, fmt.Errorf("plugin %q: %s fails its pinned checksum: sha256 %x, manifest %s pins %x; not started", name, path, sum, manifest, want)
	}
	if !cookie {
		return nil, fmt.Errorf("plugin %q: %s is not an LRSGD optimizer plugin (it does not contain the plugin handshake that sdk.Serve links in); not started", name, path)
	}
	return want, nil
}

// scan reports whether the file contains needle and, if hash is set,
// returns its sha256.
func scan(path string, needle []byte, hash bool) (sum []byte, found bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var carry []byte // the last len(needle)-1 bytes read, for matches across chunks
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if hash {
				h.Write(buf[:n])
			}
			if !found {
				win := append(carry, buf[:n]...)
				found = bytes.Contains(win, needle)
				carry = bytes.Clone(win[max(0, len(win)-(len(needle)-1)):])
			}
		}
		if err == io.EOF {
			if hash {
				sum = h.Sum(nil)
			}
			return sum, found, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// ReadManifest reads a file of "sha256  name" lines as sha256sum writes
// them (a '*' before the name and a directory part are allowed; blank
// lines and lines starting with '#' are skipped) and returns the checksum
// by file name.
func ReadManifest(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin manifest: %w", err)
	}
	defer f.Close()
	sums := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		hexSum, name, ok := strings.Cut(text, " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		sum, err := hex.DecodeString(hexSum)
		if !ok || name == "" || err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("plugin manifest %s:%d: %q is not a \"<64 hex digits>  <name>\" line", path, line, text)
		}
		sums[filepath.Base(name)] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read plugin manifest %s: %w", path, err)
	}
	return sums, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
