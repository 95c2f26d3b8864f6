package loader

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

// FormatDescription writes d as a header line and a table of its
// hyperparameters (name, type, default, valid values, doc), e.g.
//
//	sgd 1.0.0, state vectors: 1 — SGD with momentum and coupled weight decay
//	  NAME          TYPE   DEFAULT    VALID            DOC
//	  preset        enum   reference  reference|paper  defaults of the other hyperparameters
//	  momentum      float  0.9        [0, 0.9999]      momentum μ
//	  ...
func FormatDescription(w io.Writer, d optimizer.Description) error {
	if _, err := fmt.Fprintf(w, "%s %s, state vectors: %d — %s\n", d.Name, d.Version, d.StateVectors, d.Doc); err != nil {
		return err
	}
	if len(d.Hyperparams) == 0 {
		_, err := fmt.Fprintln(w, "  (no hyperparameters)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tDEFAULT\tVALID\tDOC")
	for _, h := range d.Hyperparams {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", h.Name, h.Type, h.Default, sdk.ValidRange(h), h.Doc)
	}
	return tw.Flush()
}

// FormatList writes every Info as FormatDescription does, or with its
// error for files that were refused, separated by blank lines.
func FormatList(w io.Writer, infos []Info) error {
	for i, info := range infos {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if info.Err != nil {
			if _, err := fmt.Fprintf(w, "%s: refused: %v\n", info.Name, info.Err); err != nil {
				return err
			}
			continue
		}
		if _, err := fmt.Fprintf(w, "[%s] ", info.Name); err != nil {
			return err
		}
		if err := FormatDescription(w, info.Desc); err != nil {
			return err
		}
	}
	return nil
}
