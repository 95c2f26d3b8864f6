// Command report prints what a result store holds: its studies, their
// trials with parameters and metrics, the best trials, the Pareto front of
// hitting time against generalization gap (and against measured
// ε-stability when the stability probe ran) and the front's sweet spot; with
// --plot it also draws the paper-style figures as PNG files.
//
//	report --storage lrsgd.db --study gamma-sweep --format markdown --plot fig.png
//
// Every number comes from the store's tables (see docs/results.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/figures"
	"github.com/lrsgd-lab/lrsgd/results/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode maps run's error to the command's exit status: cli.ExitBadInput
// for flags, a store or study that is not there, or a figure request that
// names nothing in the study; cli.ExitFailure for anything else.
func exitCode(err error) int {
	var bi cli.BadInput
	if errors.As(err, &bi) {
		return cli.ExitBadInput
	}
	return cli.ExitFailure
}

// options are the command's flags.
type options struct {
	storage string
	study   string
	format  string
	plot    string
	param   string
	trials  []int
}

// run parses args and writes the report to stdout; messages about written
// figures go to stderr so that stdout stays one document.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	calledRun := false
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Report the studies, trials, Pareto front and sweet spot held in a result store",
		Long: `report reads a result store (SQLite file or PostgreSQL database) and prints its
studies, their trials with parameters and metrics, the best trials, the Pareto front of
hitting time (hitting_time_grads, never = +Inf) against generalization gap — and against
epsilon_mean when the stability probe ran — and the sweet spot:
` + report.SweetSpotRule + `.

--plot FILE.png writes one PNG per figure: FILE-gap.png, FILE-hitting.png (against --param),
FILE-front.png, FILE-curves.png (learning curves of --trials), FILE-history.png and, when the
stability probe ran, FILE-divergence.png.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			calledRun = true
			return o.run(cmd.Context(), stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.storage, "storage", "", "store DSN: a SQLite path, sqlite://path, file:..., postgres://... or host=... (default $"+results.EnvStorage+", else "+results.DefaultSQLiteFile+")")
	f.StringVar(&o.study, "study", "", "report only this study (default: every study)")
	f.StringVar(&o.format, "format", "table", "output format: "+strings.Join(report.Formats(), ", "))
	f.StringVar(&o.plot, "plot", "", "write figures as PNG files named after FILE.png (FILE-gap.png, ...)")
	f.StringVar(&o.param, "param", "", "swept parameter for the gap and hitting-time figures (default: the study's first)")
	f.IntSliceVar(&o.trials, "trials", nil, "trial numbers whose learning curves and divergence are drawn, e.g. 1,2,3 (default: sweet spot, best accuracy, best)")
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.BadInput{Err: err} })
	err := cmd.ExecuteContext(ctx)
	var bi cli.BadInput
	if err != nil && !errors.As(err, &bi) && !calledRun {
		err = cli.BadInput{Err: err} // cobra refused the arguments before run
	}
	return err
}

func (o *options) run(ctx context.Context, stdout, stderr io.Writer) error {
	if !slices.Contains(report.Formats(), o.format) {
		return cli.Bad("--format %q: want one of %s", o.format, strings.Join(report.Formats(), ", "))
	}
	if o.plot == "" && (o.param != "" || len(o.trials) > 0) {
		return cli.Bad("--param and --trials choose what --plot draws: give --plot FILE.png too")
	}
	if o.plot != "" && !strings.EqualFold(fileExt(o.plot), ".png") {
		return cli.Bad("--plot %q: want a file name ending in .png", o.plot)
	}
	s, err := results.OpenExisting(ctx, o.storage)
	if errors.Is(err, fs.ErrNotExist) {
		return cli.BadInput{Err: err}
	}
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := report.Build(ctx, s, report.Options{Study: o.study})
	if errors.Is(err, results.ErrNoStudy) {
		return cli.BadInput{Err: err}
	}
	if err != nil {
		return err
	}
	if o.plot != "" {
		if len(rep.Studies) != 1 {
			names := make([]string, len(rep.Studies))
			for i, st := range rep.Studies {
				names[i] = st.Name
			}
			return cli.Bad("--plot draws one study: name it with --study (the store holds %d: %s)", len(names), strings.Join(names, ", "))
		}
		files, err := figures.Write(ctx, s, &rep.Studies[0], o.plot, figures.Options{Param: o.param, Trials: o.trials})
		if errors.Is(err, figures.ErrNotInStudy) {
			return cli.BadInput{Err: err}
		}
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintln(stderr, "wrote", f)
		}
	}
	return report.Write(stdout, rep, o.format)
}

func fileExt(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || strings.ContainsRune(name[i:], '/') {
		return ""
	}
	return name[i:]
}
