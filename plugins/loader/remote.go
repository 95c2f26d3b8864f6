package loader

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
	"github.com/lrsgd-lab/lrsgd/plugins/shm"
)

// minStartTimeout bounds from below how long a plugin may take to start
// and complete the handshake, whatever the RPC deadline.
const minStartTimeout = 10 * time.Second

// remote is an optimizer running in a plugin process.
type remote struct {
	name, path string
	timeout    time.Duration
	logger     hclog.Logger
	cmd        *exec.Cmd
	client     *plugin.Client
	rpc        *sdk.Client
	stderr     *tail
	memfd      *os.File
	desc       optimizer.Description

	mapping     *shm.Mapping
	lastCompute time.Duration // time the plugin spent in the last Step's update
	steps       *sdk.StepConn // the host's end of the step channel; nil: Steps over gRPC only
	useSteps    bool          // the plugin serves the step channel (its last Init said so)
	failed      error         // set when the process was stopped after a failure
	closed      bool
	noCheck     bool // the plugin predates the Check RPC
}

var (
	_ optimizer.Optimizer = (*remote)(nil)
	_ optimizer.Checker   = (*remote)(nil)
)

// start checks and launches the plugin, then asks it to describe itself.
func start(ctx context.Context, name string, opts Options) (_ *remote, err error) {
	dir := opts.dir()
	path := filepath.Join(dir, name)
	pinned, err := checkFile(name, path, opts.Manifest)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plugin %q: %w", name, err)
	}
	memfd, err := shm.Create("lrsgd-" + name)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", name, err)
	}
	r := &remote{
		name:    name,
		path:    path,
		timeout: opts.timeout(),
		logger:  opts.logger(),
		stderr:  &tail{max: 4096},
		memfd:   memfd,
	}
	defer func() {
		if err != nil {
			r.stop()
		}
	}()
	r.cmd = exec.Command(path)
	// go-plugin appends its handshake variables to cmd.Env; SkipHostEnv
	// below keeps it from adding the host's whole environment first.
	r.cmd.Env = withTempDir(PluginEnv(os.Environ()))
	r.cmd.ExtraFiles = []*os.File{memfd} // descriptor sdk.ShmFD in the plugin
	var stepChild *os.File
	if !opts.stepRPC() {
		var stepHost *os.File
		if stepHost, stepChild, err = stepPair(); err != nil {
			return nil, fmt.Errorf("plugin %q: %w", name, err)
		}
		// Closed once the plugin runs (or failed to): then the plugin holds
		// the only copy, so the host reads EOF when the plugin dies.
		defer stepChild.Close()
		if r.steps, err = sdk.NewStepConn(stepHost); err != nil {
			return nil, fmt.Errorf("plugin %q: %w", name, err)
		}
		r.cmd.ExtraFiles = append(r.cmd.ExtraFiles, stepChild) // descriptor sdk.StepFD
	}
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		VersionedPlugins: sdk.VersionedPlugins(nil, nil),
		Cmd:              r.cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           r.logger,
		Stderr:           r.stderr,
		StartTimeout:     max(InitTimeoutFactor*r.timeout, minStartTimeout),
		SkipHostEnv:      true,
	}
	if pinned != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: pinned, Hash: sha256.New()}
	}
	r.client = plugin.NewClient(cfg)
	proto, err := r.client.Client()
	if stepChild != nil {
		stepChild.Close() // the deferred Close then does nothing
	}
	if err != nil {
		return nil, fmt.Errorf("plugin %q (%s): start: %v%s", name, path, err, r.stderr.suffix())
	}
	raw, err := proto.Dispense(sdk.PluginName)
	if err != nil {
		return nil, fmt.Errorf("plugin %q (%s): dispense %q: %w", name, path, sdk.PluginName, err)
	}
	c, ok := raw.(*sdk.Client)
	if !ok {
		return nil, fmt.Errorf("plugin %q (%s): dispensed %T, want *sdk.Client", name, path, raw)
	}
	r.rpc = c
	err = r.call(ctx, "describe", r.timeout, func(ctx context.Context) error {
		var err error
		r.desc, err = r.rpc.Describe(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := optimizer.CheckDescription(r.desc); err != nil {
		return nil, fmt.Errorf("plugin %q (%s): describe: invalid description: %w; not used", name, path, err)
	}
	return r, nil
}

// stepPair returns the two ends of a new step channel (see sdk.StepConn):
// a SOCK_SEQPACKET unix socket pair, close-on-exec (exec.Cmd.ExtraFiles
// clears that on the child's copy).
func stepPair() (host, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("step channel: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "step channel (host)"), os.NewFile(uintptr(fds[1]), "step channel (plugin)"), nil
}

// call runs one RPC with a deadline and turns its failure into an error
// naming the plugin, its file and op. A plugin that died, missed the
// deadline or was cancelled mid-call is stopped and refuses further calls.
func (r *remote) call(ctx context.Context, op string, timeout time.Duration, f func(context.Context) error) error {
	if r.closed {
		return stopped(fmt.Errorf("plugin %q: %s after Close", r.name, op))
	}
	if r.failed != nil {
		return stopped(fmt.Errorf("plugin %q (%s): %s: plugin stopped after an earlier failure: %w", r.name, r.path, op, r.failed))
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := f(cctx)
	if err == nil {
		return nil
	}
	prefix := fmt.Sprintf("plugin %q (%s): %s", r.name, r.path, op)
	st, _ := status.FromError(err)
	switch {
	case st.Code() == codes.Unavailable || r.client.Exited():
		state := r.exitState()
		if state == "" {
			r.fail(fmt.Errorf("lost the connection: %s", st.Message()))
			return stopped(fmt.Errorf("%s: lost the connection to the plugin (%s); plugin stopped", prefix, st.Message()))
		}
		r.fail(fmt.Errorf("plugin process died (%s)", state))
		return stopped(fmt.Errorf("%s: plugin process died (%s)%s", prefix, state, r.stderr.suffix()))
	case ctx.Err() != nil:
		r.fail(fmt.Errorf("%s cancelled: %w", op, ctx.Err()))
		return stopped(fmt.Errorf("%s: %w; plugin stopped", prefix, ctx.Err()))
	case st.Code() == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
		r.fail(fmt.Errorf("%s missed its %v deadline", op, timeout))
		return stopped(fmt.Errorf("%s: no reply within %v (RPC deadline, --rpc-timeout): the plugin hangs or is too slow; plugin stopped", prefix, timeout))
	case st.Code() == codes.Unknown:
		return fmt.Errorf("%s: %w", prefix, err)
	default:
		return fmt.Errorf("%s: %s", prefix, st.Message())
	}
}

// stoppedError is an error after which the plugin is stopped; it matches
// ErrPluginStopped.
type stoppedError struct{ err error }

func stopped(err error) error { return &stoppedError{err} }

func (e *stoppedError) Error() string        { return e.err.Error() }
func (e *stoppedError) Unwrap() error        { return e.err }
func (e *stoppedError) Is(target error) bool { return target == ErrPluginStopped }

// exitState describes how the process ended, e.g. "signal: killed", or
// returns "" if it is still running two seconds after the connection
// broke.
func (r *remote) exitState() string {
	for range 400 { // the wait status arrives shortly after the exit
		if r.client.Exited() {
			if r.cmd.ProcessState != nil {
				return r.cmd.ProcessState.String()
			}
			return "exited"
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ""
}

// fail records why the plugin is unusable and stops its process at once:
// after a missed deadline it might still write into the shared memory.
func (r *remote) fail(why error) {
	r.failed = why
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
	}
	r.client.Kill()
}

// stop kills the process and releases the shared memory.
func (r *remote) stop() error {
	if r.client != nil {
		r.client.Kill()
	}
	var errs []error
	if r.steps != nil {
		errs = append(errs, r.steps.Close())
		r.steps = nil
	}
	if r.mapping != nil {
		errs = append(errs, r.mapping.Unmap())
		r.mapping = nil
	}
	if r.memfd != nil {
		errs = append(errs, r.memfd.Close())
		r.memfd = nil
	}
	return errors.Join(errs...)
}

// Describe implements optimizer.Optimizer. It returns the description the
// plugin gave when it was started.
func (r *remote) Describe(context.Context) (optimizer.Description, error) {
	return r.desc, nil
}

// Init implements optimizer.Optimizer: it sizes and zeroes the shared
// memory, writes its header and tells the plugin the layout.
func (r *remote) Init(ctx context.Context, cfg optimizer.InitConfig) (optimizer.Buffers, error) {
	if r.closed || r.failed != nil {
		return optimizer.Buffers{}, r.call(ctx, "init", r.timeout, nil)
	}
	l, err := shm.NewLayout(cfg.NumParams, r.desc.StateVectors)
	if err != nil {
		return optimizer.Buffers{}, fmt.Errorf("plugin %q: init: %w", r.name, err)
	}
	if r.mapping != nil && r.mapping.Layout() != l {
		if err := r.mapping.Unmap(); err != nil {
			return optimizer.Buffers{}, fmt.Errorf("plugin %q: init: %w", r.name, err)
		}
		r.mapping = nil
	}
	// Resize zeroes the file; a mapping of the same layout stays valid.
	if err := shm.Resize(r.memfd, l.Size); err != nil {
		return optimizer.Buffers{}, fmt.Errorf("plugin %q: init: %w", r.name, err)
	}
	if r.mapping == nil {
		if r.mapping, err = shm.Map(r.memfd, l); err != nil {
			return optimizer.Buffers{}, fmt.Errorf("plugin %q: init: %w", r.name, err)
		}
	}
	nonce := rand.Uint64()
	r.mapping.WriteHeader(nonce)
	stepFD := 0
	if r.steps != nil {
		stepFD = sdk.StepFD
	}
	err = r.call(ctx, "init", InitTimeoutFactor*r.timeout, func(ctx context.Context) error {
		var err error
		r.useSteps, err = r.rpc.Init(ctx, cfg, l, sdk.ShmFD, stepFD, nonce)
		return err
	})
	if err != nil {
		return optimizer.Buffers{}, err
	}
	return r.mapping.Buffers(), nil
}

// Check implements optimizer.Checker: the plugin judges cfg without
// starting a run (the Check RPC). A plugin built before the RPC existed
// answers Unimplemented; Check then, and from then on, judges the names
// and ranges on the plugin's Description (optimizer.CheckHyperparams)
// alone, and logs once that the plugin's own rules were not checked.
func (r *remote) Check(ctx context.Context, cfg optimizer.CheckConfig) error {
	switch {
	case r.closed || r.failed != nil:
		return r.call(ctx, "check", r.timeout, nil)
	case cfg.NumParams < 0:
		return fmt.Errorf("plugin %q: check: NumParams=%d, want at least 0 (0: not known)", r.name, cfg.NumParams)
	}
	if !r.noCheck {
		err := r.call(ctx, "check", r.timeout, func(ctx context.Context) error {
			err := r.rpc.Check(ctx, cfg)
			if status.Code(err) == codes.Unimplemented {
				r.noCheck = true
				return nil
			}
			return err
		})
		if err != nil || !r.noCheck {
			return err
		}
		r.logger.Info("plugin predates the Check RPC: its hyperparameters are checked against its description only", "plugin", r.name, "path", r.path)
	}
	if err := optimizer.CheckHyperparams(r.desc, cfg.Hyperparams); err != nil {
		return fmt.Errorf("plugin %q (%s): check: %w", r.name, r.path, err)
	}
	return nil
}

// Step implements optimizer.Optimizer.
func (r *remote) Step(ctx context.Context, req optimizer.StepRequest) (optimizer.StepResult, error) {
	var res optimizer.StepResult
	err := r.call(ctx, fmt.Sprintf("step %d", req.Step), r.timeout, func(ctx context.Context) error {
		var err error
		if r.useSteps {
			res, r.lastCompute, err = r.steps.Step(ctx, req)
		} else {
			res, r.lastCompute, err = r.rpc.StepTimed(ctx, req)
		}
		return err
	})
	return res, err
}

// Save implements optimizer.Optimizer.
func (r *remote) Save(ctx context.Context) ([]byte, error) {
	var blob []byte
	err := r.call(ctx, "save", r.timeout, func(ctx context.Context) error {
		var err error
		blob, err = r.rpc.Save(ctx)
		return err
	})
	return blob, err
}

// Restore implements optimizer.Optimizer.
func (r *remote) Restore(ctx context.Context, blob []byte) error {
	return r.call(ctx, "restore", r.timeout, func(ctx context.Context) error {
		return r.rpc.Restore(ctx, blob)
	})
}

// Close implements optimizer.Optimizer: it asks the plugin to close, stops
// the process and unmaps and closes the shared memory. Calling it again
// does nothing.
func (r *remote) Close() error {
	if r.closed {
		return nil
	}
	var err error
	if r.failed == nil {
		err = r.call(context.Background(), "close", r.timeout, r.rpc.Close)
	}
	r.closed = true
	return errors.Join(err, r.stop())
}

// tail keeps the last max bytes written to it: the plugin's recent stderr,
// quoted in errors about its death.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// suffix returns "; last output: ..." with the last few plain (non-log)
// stderr lines, or "".
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(t.buf), "\n") {
		// JSON lines are hclog entries, already forwarded to the host's
		// logger; what is left is plain output such as a panic.
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "{\"@") {
			lines = append(lines, l)
		}
	}
	lines = lines[max(0, len(lines)-3):]
	s := strings.TrimSpace(strings.Join(lines, " | "))
	if s == "" {
		return ""
	}
	return "; last output: " + s
}
