package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/results"
)

// deleteCommand is `tune delete-study NAME --yes`.
func deleteCommand(stdout io.Writer) *cobra.Command {
	var storage, checkpoints string
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete-study NAME --yes",
		Short: "Delete a study and every trial, curve and metric of it from the store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !yes {
				return cli.Bad("delete-study %q deletes the study and all its trials for good: add --yes to confirm", name)
			}
			st, err := results.OpenExisting(cmd.Context(), storage)
			if err != nil {
				return cli.BadInput{Err: fmt.Errorf("--storage: %w", err)}
			}
			defer st.Close()
			ids, _ := trialIDs(cmd, st, name)
			n, err := st.DeleteStudy(cmd.Context(), name)
			if errors.Is(err, results.ErrNoStudy) {
				return cli.BadInput{Err: err}
			}
			if err != nil {
				return err
			}
			dir := checkpoints
			if dir == "" && st.File() != "" {
				dir = st.File() + ".checkpoints"
			}
			for _, id := range ids {
				if dir != "" {
					os.Remove(filepath.Join(dir, fmt.Sprintf("trial-%d.ckpt", id)))
				}
			}
			fmt.Fprintf(stdout, "deleted study %s and its %d trial(s) from %s\n", name, n, st)
			return nil
		},
	}
	cmd.Flags().StringVar(&storage, "storage", "", "result store DSN (default $"+results.EnvStorage+", else "+results.DefaultSQLiteFile+")")
	cmd.Flags().StringVar(&checkpoints, "checkpoint-dir", "", "the study's checkpoint folder, if not the default")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

// trialIDs lists the IDs of the study's trials (to remove their checkpoint
// files).
func trialIDs(cmd *cobra.Command, st *results.Store, name string) ([]int, error) {
	trials, err := st.TrialsOf(cmd.Context(), name)
	ids := make([]int, len(trials))
	for i, tr := range trials {
		ids[i] = tr.ID
	}
	return ids, err
}
