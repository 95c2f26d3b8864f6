package sdk

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	pb "github.com/lrsgd-lab/lrsgd/plugins/proto"
	"github.com/lrsgd-lab/lrsgd/plugins/shm"
)

// Binder is optimizer.Binder, declared here too so that plugins written
// against sdk.Binder keep compiling: an optimizer that implements it is
// bound straight to the shared memory, one that does not has its vectors
// copied in and out of its own buffers around every Step.
type Binder = optimizer.Binder

// server adapts an optimizer.Optimizer to the gRPC Optimizer service,
// running it over the host's shared memory.
type server struct {
	pb.UnimplementedOptimizerServer
	impl   optimizer.Optimizer
	logger hclog.Logger
	openFD func(fd int) *os.File

	mu      sync.Mutex
	files   map[int]*os.File // inherited descriptors, kept referenced so no finalizer closes them
	mapping *shm.Mapping
	shared  optimizer.Buffers  // views of the mapping
	own     *optimizer.Buffers // the optimizer's own buffers when it is not a Binder
	ready   bool               // Init succeeded and no panic since

	stepsServed bool // the step channel is being served
}

func newServer(impl optimizer.Optimizer, logger hclog.Logger, openFD func(int) *os.File) *server {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &server{impl: impl, logger: logger, openFD: openFD, files: map[int]*os.File{}}
}

// guard turns a panic of the optimizer into an Internal error; the
// optimizer's state is then unknown, so the server refuses Steps until the
// next Init.
func (s *server) guard(op string, err *error) {
	if r := recover(); r != nil {
		s.ready = false
		s.logger.Error("optimizer panicked", "op", op, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "optimizer panicked in %s: %v", op, r)
	}
}

func (s *server) Describe(ctx context.Context, _ *pb.DescribeRequest) (_ *pb.DescribeResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.guard("Describe", &err)
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pb.DescribeResponse{Description: descriptionToProto(d)}, nil
}

// checkHyperparams returns the optimizer's description after checking hp
// against it (optimizer.CheckHyperparams, what Init and Check run before
// the optimizer sees hp): a refusal is InvalidArgument, a failing
// Describe Internal.
func (s *server) checkHyperparams(ctx context.Context, hp map[string]string) (optimizer.Description, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return d, status.Error(codes.Internal, err.Error())
	}
	if err := optimizer.CheckHyperparams(d, hp); err != nil {
		return d, status.Error(codes.InvalidArgument, err.Error())
	}
	return d, nil
}

func (s *server) Init(ctx context.Context, req *pb.InitRequest) (_ *pb.InitResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.guard("Init", &err)
	s.ready = false
	d, err := s.checkHyperparams(ctx, req.GetHyperparams())
	if err != nil {
		return nil, err
	}
	pl := req.GetLayout()
	if pl == nil {
		return nil, status.Error(codes.InvalidArgument, "init: no shared-memory layout")
	}
	l := shm.Layout{
		NumParams:    int(pl.GetNumParams()),
		StateVectors: int(pl.GetStateVectors()),
		ParamsOffset: int64(pl.GetParamsOffset()),
		GradsOffset:  int64(pl.GetGradsOffset()),
		StateOffset:  int64(pl.GetStateOffset()),
		Size:         int64(pl.GetSize()),
	}
	if pl.GetNumParams() != req.GetNumParams() {
		return nil, status.Errorf(codes.InvalidArgument, "init: layout for %d parameters, request for %d", pl.GetNumParams(), req.GetNumParams())
	}
	if l.StateVectors != d.StateVectors {
		return nil, status.Errorf(codes.InvalidArgument, "init: layout has %d state vectors, %s keeps %d", l.StateVectors, d.Name, d.StateVectors)
	}
	if err := l.Check(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "init: %v", err)
	}
	s.release()
	fd := int(pl.GetFd())
	f, ok := s.files[fd]
	if !ok {
		f = s.openFD(fd)
		if f == nil {
			return nil, status.Errorf(codes.InvalidArgument, "init: no file descriptor %d in the plugin process", fd)
		}
		s.files[fd] = f
	}
	m, err := shm.Map(f, l)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "init: %v", err)
	}
	if err := m.CheckHeader(pl.GetNonce()); err != nil {
		m.Unmap()
		return nil, status.Errorf(codes.InvalidArgument, "init: descriptor %d: %v", fd, err)
	}
	cfg := optimizer.InitConfig{
		Hyperparams: req.GetHyperparams(),
		NumParams:   l.NumParams,
		Seed:        req.GetSeed(),
	}
	shared := m.Buffers()
	var own *optimizer.Buffers
	if b, ok := s.impl.(optimizer.Binder); ok {
		err = b.InitBuffers(ctx, cfg, shared)
	} else {
		var ob optimizer.Buffers
		ob, err = s.impl.Init(ctx, cfg)
		if err == nil && (len(ob.Params) != len(shared.Params) || len(ob.Grads) != len(shared.Grads) || len(ob.State) != len(shared.State)) {
			err = fmt.Errorf("optimizer Init returned vectors of %d/%d/%d floats, want %d/%d/%d",
				len(ob.Params), len(ob.Grads), len(ob.State), len(shared.Params), len(shared.Grads), len(shared.State))
		}
		own = &ob
	}
	if err != nil {
		m.Unmap()
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.mapping, s.shared, s.own, s.ready = m, shared, own, true
	mode := "bound"
	if own != nil {
		mode = "copy"
	}
	var steps bool
	if fd := int(pl.GetStepFd()); fd > 0 {
		steps = s.startSteps(fd)
	}
	s.logger.Debug("initialised", "optimizer", d.Name, "params", l.NumParams, "state_vectors", l.StateVectors, "bytes", l.Size, "mode", mode, "step_channel", steps)
	return &pb.InitResponse{StepChannel: steps}, nil
}

func (s *server) Step(ctx context.Context, req *pb.StepRequest) (_ *pb.StepResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.guard("Step", &err)
	if !s.ready {
		return nil, status.Errorf(codes.FailedPrecondition, "step %d: optimizer not initialised (Init missing or failed)", req.GetStep())
	}
	if s.own != nil {
		copy(s.own.Params, s.shared.Params)
		copy(s.own.Grads, s.shared.Grads)
		copy(s.own.State, s.shared.State)
	}
	t0 := time.Now()
	r, err := s.impl.Step(ctx, optimizer.StepRequest{Step: req.GetStep(), LR: req.GetLr()})
	compute := time.Since(t0)
	if err != nil {
		return nil, status.Errorf(codes.Aborted, "step %d: %v", req.GetStep(), err)
	}
	if s.own != nil {
		copy(s.shared.Params, s.own.Params)
		copy(s.shared.State, s.own.State)
	}
	return &pb.StepResponse{OuterEnded: r.OuterEnded, Inner: int32(r.Inner), Outer: r.Outer, M: int32(r.M), ComputeNanos: compute.Nanoseconds()}, nil
}

func (s *server) Save(ctx context.Context, _ *pb.SaveRequest) (_ *pb.SaveResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.guard("Save", &err)
	if !s.ready {
		return nil, status.Error(codes.FailedPrecondition, "save: optimizer not initialised")
	}
	blob, err := s.impl.Save(ctx)
	if err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return &pb.SaveResponse{State: blob}, nil
}

func (s *server) Restore(ctx context.Context, req *pb.RestoreRequest) (_ *pb.RestoreResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.guard("Restore", &err)
	if !s.ready {
		return nil, status.Error(codes.FailedPrecondition, "restore: optimizer not initialised (call Init with the saved run's configuration first)")
	}
	if err := s.impl.Restore(ctx, req.GetState()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &pb.RestoreResponse{}, nil
}

func (s *server) Close(_ context.Context, _ *pb.CloseRequest) (_ *pb.CloseResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.guard("Close", &err)
	s.ready = false
	s.release()
	if err := s.impl.Close(); err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return &pb.CloseResponse{}, nil
}

// Check judges a configuration without touching the shared memory or the
// optimizer's state: the names and ranges as Init checks them
// (optimizer.CheckHyperparams), then, if the optimizer implements
// optimizer.Checker, its own rules. A refusal is InvalidArgument.
func (s *server) Check(ctx context.Context, req *pb.CheckRequest) (_ *pb.CheckResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.guard("Check", &err)
	if _, err := s.checkHyperparams(ctx, req.GetHyperparams()); err != nil {
		return nil, err
	}
	c, ok := s.impl.(optimizer.Checker)
	if !ok {
		return &pb.CheckResponse{}, nil
	}
	cfg := optimizer.CheckConfig{
		InitConfig: optimizer.InitConfig{Hyperparams: req.GetHyperparams(), NumParams: int(req.GetNumParams()), Seed: req.GetSeed()},
		LR:         req.GetLr(),
	}
	if err := c.Check(ctx, cfg); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &pb.CheckResponse{}, nil
}

// release unmaps the shared memory. The optimizer must not touch the old
// views afterwards; it is re-initialised or closed next.
func (s *server) release() {
	if s.mapping != nil {
		if err := s.mapping.Unmap(); err != nil {
			s.logger.Warn("unmap shared memory", "error", err)
		}
	}
	s.mapping, s.shared, s.own = nil, optimizer.Buffers{}, nil
}
