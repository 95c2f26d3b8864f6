package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestBadInput(t *testing.T) {
	err := error(BadInput{Err: fs.ErrNotExist})
	var bi BadInput
	if !errors.As(err, &bi) || !errors.Is(err, fs.ErrNotExist) || err.Error() != fs.ErrNotExist.Error() {
		t.Fatalf("BadInput{fs.ErrNotExist}: As %v, Is %v, message %q", errors.As(err, &bi), errors.Is(err, fs.ErrNotExist), err)
	}
	err = Bad("--workers %d: want >= 1", 0)
	if !errors.As(err, &bi) || err.Error() != "--workers 0: want >= 1" {
		t.Fatalf("Bad: %v (%T)", err, err)
	}
}

// TestRun checks the exit status and the message of each way a command
// can end, for the root command and a subcommand.
func TestRun(t *testing.T) {
	newRoot := func(runErr error) *cobra.Command {
		var n int
		root := &cobra.Command{Use: "tool", RunE: func(*cobra.Command, []string) error { return runErr }}
		root.Flags().IntVar(&n, "n", 0, "a number")
		root.AddCommand(&cobra.Command{Use: "sub", RunE: func(*cobra.Command, []string) error { return runErr }})
		return root
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name    string
		ctx     context.Context
		runErr  error
		args    []string
		code    int
		message string
	}{
		{"ok", context.Background(), nil, nil, ExitOK, ""},
		{"failure", context.Background(), errors.New("disk on fire"), nil, ExitFailure, "tool: disk on fire"},
		{"bad input", context.Background(), Bad("--n 3: want 4"), nil, ExitBadInput, "tool: --n 3: want 4"},
		{"wrapped bad input", context.Background(), fmt.Errorf("study x: %w", Bad("no")), nil, ExitBadInput, "tool: study x: no"},
		{"unknown flag", context.Background(), nil, []string{"--colour", "red"}, ExitBadInput, "unknown flag: --colour"},
		{"bad flag value", context.Background(), nil, []string{"--n", "many"}, ExitBadInput, `invalid argument "many"`},
		{"stray argument", context.Background(), nil, []string{"extra"}, ExitBadInput, `unknown command "extra" for "tool"`},
		{"stray argument of a subcommand", context.Background(), nil, []string{"sub", "extra"}, ExitBadInput, `unknown command "extra" for "tool sub"`},
		{"interrupted", context.Background(), fmt.Errorf("%w: rerun to resume", ErrInterrupted), nil, ExitInterrupted, "tool: interrupted: rerun to resume"},
		{"cancelled", cancelled, context.Canceled, nil, ExitInterrupted, "tool: context canceled"},
		{"own status", context.Background(), ExitError{Code: 3, Err: errors.New("study incomplete")}, nil, 3, "tool: study incomplete"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Run(c.ctx, newRoot(c.runErr), c.args, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.message) || (c.message == "") != (stderr.Len() == 0) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), c.code, c.message)
			}
		})
	}
}
