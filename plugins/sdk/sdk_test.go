package sdk

import (
	"context"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	pb "github.com/lrsgd-lab/lrsgd/plugins/proto"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk/sdktest"
	"github.com/lrsgd-lab/lrsgd/plugins/shm"
)

func TestCheckHyperparams(t *testing.T) {
	d, _ := sdktest.New().Describe(context.Background())
	tests := []struct {
		hp   map[string]string
		want string // substring of the error; "" for no error
	}{
		{map[string]string{}, ""},
		{map[string]string{"momentum": "0", "gamma": "1", "lambda": "1e9", "max-m": "7", "nesterov": "true", "draw": "one"}, ""},
		{map[string]string{"momentun": "0.9"}, `toy: unknown hyperparameter "momentun"; valid names: momentum, gamma, lambda, wd, max-m, nesterov, draw`},
		{map[string]string{"momentum": "1.5"}, `toy: hyperparameter momentum="1.5": out of range; valid: float [0, 1]`},
		{map[string]string{"gamma": "0"}, `hyperparameter gamma="0": out of range; valid: float [0.01, 1]`},
		{map[string]string{"lambda": "-1"}, `out of range; valid: float [0, +Inf]`},
		{map[string]string{"lambda": "NaN"}, `not a number`},
		{map[string]string{"momentum": "fast"}, `not a number`},
		{map[string]string{"max-m": "2.5"}, `hyperparameter max-m="2.5": not an integer; valid: int [1, 1000]`},
		{map[string]string{"max-m": "0"}, `out of range; valid: int [1, 1000]`},
		{map[string]string{"nesterov": "yes"}, `not a boolean; valid: bool true|false`},
		{map[string]string{"draw": "poisson"}, `not one of the choices; valid: enum geometric|one`},
	}
	for _, tt := range tests {
		err := optimizer.CheckHyperparams(d, tt.hp) // what the server runs before Init
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckHyperparams(%v) = %v, want nil", tt.hp, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckHyperparams(%v) = %v, want error containing %q", tt.hp, err, tt.want)
		}
	}
}

// harness runs the gRPC server in-process over an in-memory connection,
// with the memfd shared by "descriptor" number fd.
type harness struct {
	client *Client
	file   *os.File
	fd     int
	desc   optimizer.Description

	stepFD  int       // the plugin's end of the step channel
	stepDup int       // a duplicate of it, kept open by the test
	steps   *StepConn // the host's end; used once Init reports the channel served
	channel bool      // the last Init reported the step channel served
}

func newHarness(t *testing.T, impl optimizer.Optimizer) *harness {
	t.Helper()
	f, err := shm.Create("sdk-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fd := int(f.Fd())
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := NewStepConn(os.NewFile(uintptr(pair[0]), "step channel (host)"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { steps.Close() })
	stepDup, err := unix.Dup(pair[1]) // the same socket as the plugin's end, for shutting it down
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(stepDup) })
	open := func(n int) *os.File {
		switch n {
		case fd:
			return f
		case pair[1]:
			return os.NewFile(uintptr(pair[1]), "step channel (plugin)")
		}
		return nil
	}
	rpc := serveInProcess(t, &pb.Optimizer_ServiceDesc, newServer(impl, nil, open))
	h := &harness{client: NewClient(rpc), file: f, fd: fd, stepFD: pair[1], stepDup: stepDup, steps: steps}
	h.desc, err = h.client.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// init prepares the shared memory as the loader does and sends Init.
// serveInProcess serves srv under the service description desc on a gRPC
// server in-process, over an in-memory connection, and returns a client.
func serveInProcess(t *testing.T, desc *grpc.ServiceDesc, srv pb.OptimizerServer) pb.OptimizerClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	s.RegisterService(desc, srv)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewOptimizerClient(conn)
}

func (h *harness) init(t *testing.T, cfg optimizer.InitConfig, nonce, headerNonce uint64) (optimizer.Buffers, error) {
	t.Helper()
	l, err := shm.NewLayout(cfg.NumParams, h.desc.StateVectors)
	if err != nil {
		t.Fatal(err)
	}
	if err := shm.Resize(h.file, l.Size); err != nil {
		t.Fatal(err)
	}
	m, err := shm.Map(h.file, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmap() })
	m.WriteHeader(headerNonce)
	h.channel, err = h.client.Init(context.Background(), cfg, l, h.fd, h.stepFD, nonce)
	return m.Buffers(), err
}

// step sends one Step over the step channel (which Init must have
// reported served) or, with rpc, over gRPC.
func (h *harness) step(ctx context.Context, t *testing.T, rpc bool, req optimizer.StepRequest) (optimizer.StepResult, time.Duration, error) {
	t.Helper()
	if rpc {
		return h.client.StepTimed(ctx, req)
	}
	if !h.channel {
		t.Fatal("Init did not report the step channel served")
	}
	return h.steps.Step(ctx, req)
}

func code(err error) codes.Code { return status.Code(err) }

func TestDescribeRoundTrip(t *testing.T) {
	h := newHarness(t, sdktest.New())
	want, _ := sdktest.New().Describe(context.Background())
	if !reflect.DeepEqual(h.desc, want) {
		t.Fatalf("Describe over gRPC = %+v, want %+v", h.desc, want)
	}
}

func TestServerRefusals(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sdktest.New())
	if _, err := h.client.Step(ctx, optimizer.StepRequest{Step: 4}); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "step 4") {
		t.Errorf("Step before Init: %v, want FailedPrecondition naming step 4", err)
	}
	_, err := h.init(t, optimizer.InitConfig{NumParams: 8, Hyperparams: map[string]string{"momentum": "2"}}, 1, 1)
	if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "valid: float [0, 1]") {
		t.Errorf("Init with momentum=2: %v, want InvalidArgument with the valid range", err)
	}
	_, err = h.init(t, optimizer.InitConfig{NumParams: 8}, 1, 2)
	if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nonce") {
		t.Errorf("Init with a foreign header: %v, want InvalidArgument about the nonce", err)
	}
	if _, err := h.client.Save(ctx); code(err) != codes.FailedPrecondition {
		t.Errorf("Save after failed Init: %v, want FailedPrecondition", err)
	}
}

// TestStepsMatchInProcess runs the same steps through the gRPC server over
// shared memory (bound and copy mode) and in-process: bit-identical.
func TestStepsMatchInProcess(t *testing.T) {
	const n, steps = 37, 40
	cfg := optimizer.InitConfig{NumParams: n, Seed: 7, Hyperparams: map[string]string{"gamma": "0.3", "wd": "0.01", "nesterov": "true"}}
	ctx := context.Background()
	ref := sdktest.New()
	rb, err := ref.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rb.Params {
		rb.Params[i] = float32(i) * 0.1
	}
	var refResults []optimizer.StepResult
	for s := range int64(steps) {
		sdktest.Grad(rb.Grads, rb.Params, s)
		r, err := ref.Step(ctx, optimizer.StepRequest{Step: s, LR: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		refResults = append(refResults, r)
	}
	for _, tc := range []struct {
		name string
		impl optimizer.Optimizer
		rpc  bool
	}{
		{"bound/channel", sdktest.New(), false}, {"copy/channel", sdktest.Unbound{Optimizer: sdktest.New()}, false},
		{"bound/rpc", sdktest.New(), true}, {"copy/rpc", sdktest.Unbound{Optimizer: sdktest.New()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.impl)
			b, err := h.init(t, cfg, 5, 5)
			if err != nil {
				t.Fatal(err)
			}
			for i := range b.Params {
				b.Params[i] = float32(i) * 0.1
			}
			for s := range int64(steps) {
				sdktest.Grad(b.Grads, b.Params, s)
				r, _, err := h.step(ctx, t, tc.rpc, optimizer.StepRequest{Step: s, LR: 0.05})
				if err != nil {
					t.Fatal(err)
				}
				if r != refResults[s] {
					t.Fatalf("step %d: result %+v, in-process %+v", s, r, refResults[s])
				}
			}
			sdktest.SameBits(t, "params", b.Params, rb.Params)
			sdktest.SameBits(t, "state", b.State, rb.State)
		})
	}
}

type panicky struct{ *sdktest.Toy }

func (panicky) Step(context.Context, optimizer.StepRequest) (optimizer.StepResult, error) {
	panic("boom")
}

func TestPanicBecomesError(t *testing.T) {
	for _, rpc := range []bool{false, true} {
		h := newHarness(t, panicky{sdktest.New()})
		if _, err := h.init(t, optimizer.InitConfig{NumParams: 3}, 9, 9); err != nil {
			t.Fatal(err)
		}
		_, _, err := h.step(context.Background(), t, rpc, optimizer.StepRequest{Step: 0})
		if code(err) != codes.Internal || !strings.Contains(err.Error(), "panicked in Step: boom") {
			t.Fatalf("rpc=%v: Step of a panicking optimizer: %v, want Internal naming the panic", rpc, err)
		}
		if _, _, err := h.step(context.Background(), t, rpc, optimizer.StepRequest{Step: 1}); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "step 1") {
			t.Fatalf("rpc=%v: Step after a panic: %v, want FailedPrecondition naming step 1 until the next Init", rpc, err)
		}
	}
}

type slow struct{ *sdktest.Toy }

func (s slow) Step(ctx context.Context, req optimizer.StepRequest) (optimizer.StepResult, error) {
	time.Sleep(30 * time.Millisecond)
	return s.Toy.Step(ctx, req)
}

// TestStepTimed: the plugin reports the time spent in the optimizer's Step.
func TestStepTimed(t *testing.T) {
	h := newHarness(t, slow{sdktest.New()})
	if _, err := h.init(t, optimizer.InitConfig{NumParams: 3}, 4, 4); err != nil {
		t.Fatal(err)
	}
	for s, rpc := range []bool{false, true} {
		_, compute, err := h.step(context.Background(), t, rpc, optimizer.StepRequest{Step: int64(s), LR: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		if compute < 30*time.Millisecond {
			t.Fatalf("rpc=%v: compute time %v, want at least the optimizer's 30ms sleep", rpc, compute)
		}
	}
}

// TestStepChannelFailures: a deadline or a cancellation ends a Step on the
// step channel with the gRPC code the RPC would give, and the channel then
// refuses further Steps (a late reply could follow); a closed channel is
// Unavailable.
func TestStepChannelFailures(t *testing.T) {
	h := newHarness(t, slow{sdktest.New()})
	if _, err := h.init(t, optimizer.InitConfig{NumParams: 3}, 4, 4); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, _, err := h.step(ctx, t, false, optimizer.StepRequest{Step: 0}); code(err) != codes.DeadlineExceeded {
		t.Fatalf("Step past its deadline: %v, want DeadlineExceeded", err)
	}
	if _, _, err := h.step(context.Background(), t, false, optimizer.StepRequest{Step: 1}); code(err) != codes.Unavailable {
		t.Fatalf("Step after a missed deadline: %v, want Unavailable", err)
	}

	h = newHarness(t, slow{sdktest.New()})
	if _, err := h.init(t, optimizer.InitConfig{NumParams: 3}, 4, 4); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(5*time.Millisecond, cancel)
	if _, _, err := h.step(ctx, t, false, optimizer.StepRequest{Step: 0}); code(err) != codes.Canceled {
		t.Fatalf("Step cancelled mid-way: %v, want Canceled", err)
	}

	h = newHarness(t, sdktest.New())
	if _, err := h.init(t, optimizer.InitConfig{NumParams: 3}, 4, 4); err != nil {
		t.Fatal(err)
	}
	if err := unix.Shutdown(h.stepDup, unix.SHUT_RDWR); err != nil { // the plugin's end goes away
		t.Fatal(err)
	}
	if _, _, err := h.step(context.Background(), t, false, optimizer.StepRequest{Step: 0}); code(err) != codes.Unavailable {
		t.Fatalf("Step on a closed channel: %v, want Unavailable", err)
	}
}

// TestInitStepChannelOffer: Init reports the step channel served only when
// the host offers a descriptor the plugin has; otherwise Steps go over gRPC.
func TestInitStepChannelOffer(t *testing.T) {
	h := newHarness(t, sdktest.New())
	h.stepFD = 0 // no channel offered
	if _, err := h.init(t, optimizer.InitConfig{NumParams: 3}, 4, 4); err != nil || h.channel {
		t.Fatalf("Init without a step descriptor: channel %v, error %v; want false, nil", h.channel, err)
	}
	h.stepFD = 1 << 20 // offered, but not open in the plugin process
	if _, err := h.init(t, optimizer.InitConfig{NumParams: 3}, 4, 4); err != nil || h.channel {
		t.Fatalf("Init with a missing step descriptor: channel %v, error %v; want false, nil", h.channel, err)
	}
	if _, _, err := h.step(context.Background(), t, true, optimizer.StepRequest{Step: 0, LR: 0.1}); err != nil {
		t.Fatalf("gRPC Step without the channel: %v", err)
	}
}
