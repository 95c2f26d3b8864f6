// Package cli holds what the lab's commands (train, tune, report) share
// about talking to their caller: how a command is run, its exit statuses,
// and the error types that choose them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses of every command.
const (
	ExitOK          = 0   // finished
	ExitFailure     = 1   // a failure while running
	ExitBadInput    = 2   // bad flags, arguments, values, files or storage; nothing was written
	ExitInterrupted = 130 // stopped by Ctrl-C (SIGINT) or SIGTERM
)

// BadInput marks an error in what the user gave, as opposed to a failure
// while running; commands exit with ExitBadInput for it.
type BadInput struct{ Err error }

func (b BadInput) Error() string { return b.Err.Error() }

// Unwrap returns the wrapped error.
func (b BadInput) Unwrap() error { return b.Err }

// Bad formats a BadInput error.
func Bad(format string, args ...any) error { return BadInput{fmt.Errorf(format, args...)} }

// ExitError gives an error its own exit status (a command's documented
// statuses beyond the shared ones).
type ExitError struct {
	Code int
	Err  error
}

func (e ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e ExitError) Unwrap() error { return e.Err }

// ErrInterrupted marks a command stopped by Ctrl-C or SIGTERM; it exits
// with ExitInterrupted. An error that wraps it is printed as the reason.
var ErrInterrupted = errors.New("interrupted")

// Main runs the command built by newRoot on the process's arguments, with
// a context cancelled by SIGINT and SIGTERM, and exits with its status.
func Main(newRoot func(stdout, stderr io.Writer) *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, newRoot(os.Stdout, os.Stderr), os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// Run executes root with args and returns its exit status. It makes
// every command of the tree quiet about usage, refuses positional
// arguments where a command declares none, and turns cobra's flag and
// argument errors into BadInput. A non-nil error is printed to stderr as
// "NAME: error"; its status is an ExitError's own, ExitBadInput for a BadInput,
// ExitInterrupted for ErrInterrupted (or a cancellation after ctx was
// cancelled), ExitFailure otherwise.
func Run(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	prepare(root)
	root.SetArgs(args)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	return Code(ctx, err)
}

// Code is the exit status for err (nil: ExitOK).
func Code(ctx context.Context, err error) int {
	var (
		bi BadInput
		ee ExitError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &bi):
		return ExitBadInput
	case errors.Is(err, ErrInterrupted), ctx.Err() != nil && errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitFailure
}

// prepare applies the shared settings to cmd and its subcommands.
func prepare(cmd *cobra.Command) {
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return BadInput{Err: err} })
	args := cmd.Args
	if args == nil {
		args = cobra.NoArgs
	}
	cmd.Args = func(c *cobra.Command, a []string) error {
		if err := args(c, a); err != nil {
			return BadInput{Err: err}
		}
		return nil
	}
	for _, sub := range cmd.Commands() {
		prepare(sub)
	}
}
