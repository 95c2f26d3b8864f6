package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	pb "github.com/lrsgd-lab/lrsgd/plugins/proto"
)

// StepFD is the descriptor number under which a plugin process finds the
// step channel, when the host passes one: the second of
// exec.Cmd.ExtraFiles.
const StepFD = 4

const (
	// maxStepMsg bounds one message on the step channel; error messages are
	// cut to fit.
	maxStepMsg = 64 << 10
	// stepMsgTag is the first byte of every message on the step channel, in
	// front of the protobuf encoding (which is empty for a zero request),
	// so that a zero-length read can only mean that the peer closed.
	stepMsgTag = 1
)

// The step channel is a SOCK_SEQPACKET unix socket pair between host and
// plugin that carries Steps only: one StepRequest message, one StepReply
// message back. It exists for speed. A unary gRPC call hands each message
// through several goroutines on both sides (the HTTP/2 reader and writer
// goroutines, a new handler goroutine per call), and after an idle wait
// each hand-off to a parked thread costs an OS wake-up; on the step channel
// the plugin's serving goroutine and the host's caller read the socket
// themselves, so a Step costs one wake-up each way. The gRPC connection
// still carries every other call.

// StepConn is the host side of the step channel.
type StepConn struct {
	conn   *net.UnixConn
	buf    []byte // reply buffer
	req    []byte // request buffer, reused every Step
	broken error  // set after a transport failure; the channel is then unusable
}

// NewStepConn wraps the host's end of a SOCK_SEQPACKET socket pair whose
// other end the plugin serves (Layout.step_fd). It takes over f.
func NewStepConn(f *os.File) (*StepConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("step channel %s: %w", f.Name(), err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("step channel %s: a %T, want a unix socket", f.Name(), c)
	}
	return &StepConn{conn: uc, buf: make([]byte, maxStepMsg)}, nil
}

// Step sends one Step and waits for its reply, until ctx is done. Errors
// are gRPC status errors with the codes Client.Step documents:
// codes.Unavailable when the channel broke (the plugin process is gone),
// codes.DeadlineExceeded and codes.Canceled when ctx ended first (the
// channel is then unusable, as a late reply could follow), and the
// plugin's own codes for a refused or failed Step.
func (c *StepConn) Step(ctx context.Context, req optimizer.StepRequest) (optimizer.StepResult, time.Duration, error) {
	if c.broken != nil {
		return optimizer.StepResult{}, 0, status.Errorf(codes.Unavailable, "step channel: %v", c.broken)
	}
	c.req = append(c.req[:0], stepMsgTag)
	msg, err := proto.MarshalOptions{}.MarshalAppend(c.req, &pb.StepRequest{Step: req.Step, Lr: req.LR})
	if err != nil {
		return optimizer.StepResult{}, 0, status.Errorf(codes.Internal, "step channel: encode request: %v", err)
	}
	dl, _ := ctx.Deadline() // zero: none
	if err := c.conn.SetDeadline(dl); err != nil {
		return optimizer.StepResult{}, 0, c.fail(ctx, err)
	}
	// Cancellation interrupts the blocked read by moving the deadline.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.req = msg
	if _, err := c.conn.Write(msg); err != nil {
		return optimizer.StepResult{}, 0, c.fail(ctx, err)
	}
	n, err := c.conn.Read(c.buf)
	if err != nil {
		return optimizer.StepResult{}, 0, c.fail(ctx, err)
	}
	if n == 0 {
		return optimizer.StepResult{}, 0, c.fail(ctx, errors.New("the plugin closed it"))
	}
	var rep pb.StepReply
	if c.buf[0] != stepMsgTag {
		return optimizer.StepResult{}, 0, c.fail(ctx, fmt.Errorf("reply starts with %#x, want %#x", c.buf[0], stepMsgTag))
	}
	if err := proto.Unmarshal(c.buf[1:n], &rep); err != nil {
		return optimizer.StepResult{}, 0, c.fail(ctx, fmt.Errorf("decode reply: %w", err))
	}
	if code := codes.Code(rep.GetCode()); code != codes.OK {
		return optimizer.StepResult{}, 0, status.Error(code, rep.GetMessage())
	}
	r := rep.GetResponse()
	res := optimizer.StepResult{OuterEnded: r.GetOuterEnded(), Inner: int(r.GetInner()), Outer: r.GetOuter(), M: int(r.GetM())}
	return res, time.Duration(r.GetComputeNanos()), nil
}

// fail marks the channel unusable and returns the status error for err.
func (c *StepConn) fail(ctx context.Context, err error) error {
	c.broken = err
	if ctxErr := ctx.Err(); ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return status.Errorf(codes.DeadlineExceeded, "step channel: %v", err)
	}
	return status.Errorf(codes.Unavailable, "step channel: %v", err)
}

// Close closes the host's end of the channel.
func (c *StepConn) Close() error { return c.conn.Close() }

// startSteps starts serving the step channel on descriptor fd, once per
// process, and reports whether it is served.
func (s *server) startSteps(fd int) bool {
	if s.stepsServed {
		return true
	}
	f := s.openFD(fd)
	if f == nil {
		s.logger.Warn("no step channel descriptor; Steps go over gRPC", "fd", fd)
		return false
	}
	defer f.Close() // FileConn holds its own descriptor
	c, err := net.FileConn(f)
	if err != nil {
		s.logger.Warn("step channel unusable; Steps go over gRPC", "fd", fd, "error", err)
		return false
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		s.logger.Warn("step channel is not a unix socket; Steps go over gRPC", "fd", fd)
		return false
	}
	s.stepsServed = true
	go s.serveSteps(uc)
	return true
}

// serveSteps answers Steps on conn with s.Step until the host closes it.
func (s *server) serveSteps(conn *net.UnixConn) {
	defer conn.Close()
	buf := make([]byte, maxStepMsg)
	for {
		n, err := conn.Read(buf)
		if err != nil || n == 0 {
			s.logger.Debug("step channel closed", "error", err)
			return
		}
		var rep pb.StepReply
		var req pb.StepRequest
		if buf[0] != stepMsgTag {
			rep.Code, rep.Message = uint32(codes.InvalidArgument), fmt.Sprintf("step channel: request starts with %#x, want %#x", buf[0], stepMsgTag)
		} else if err := proto.Unmarshal(buf[1:n], &req); err != nil {
			rep.Code, rep.Message = uint32(codes.InvalidArgument), fmt.Sprintf("step channel: decode request: %v", err)
		} else if r, err := s.Step(context.Background(), &req); err != nil {
			st := status.Convert(err)
			rep.Code, rep.Message = uint32(st.Code()), st.Message()
			if len(rep.Message) > maxStepMsg/2 {
				rep.Message = rep.Message[:maxStepMsg/2] + "…"
			}
		} else {
			rep.Response = r
		}
		msg, err := proto.MarshalOptions{}.MarshalAppend([]byte{stepMsgTag}, &rep)
		if err == nil {
			_, err = conn.Write(msg)
		}
		if err != nil {
			s.logger.Warn("step channel: reply", "error", err)
			return
		}
	}
}
