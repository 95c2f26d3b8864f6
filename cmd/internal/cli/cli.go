// Package cli holds what the lab's commands (train, tune, report) share about
// talking to their caller: exit statuses and the error type that marks bad
// input.
package cli

import "fmt"

// Exit statuses of every command.
const (
	ExitOK          = 0   // finished
	ExitFailure     = 1   // a failure while running
	ExitBadInput    = 2   // bad flags, values, files or storage; nothing was written
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
