package paperdoc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/report"
)

const (
	docPath     = "../../docs/paper.md"
	experiments = "../../experiments"
)

var (
	tagRE = regexp.MustCompile(`<!--\s*check\s+([^>]*?)\s*-->`)
	// number [lo, hi] (the interval optional), then anything but digits
	// (a % sign, spaces) up to the tag.
	valueRE = regexp.MustCompile(`(-?\d+(?:\.\d+)?)(?:\s*\[(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?)\])?[^\d\]]*$`)
)

// tag is one check tag and the text it checks.
type tag struct {
	line                    int
	store, study, path      string
	percent                 bool
	opts                    report.Options
	shown, shownLo, shownHi string
}

func parseTags(t *testing.T, doc string) []tag {
	t.Helper()
	var tags []tag
	for i, line := range strings.Split(doc, "\n") {
		prev := 0
		for _, m := range tagRE.FindAllStringSubmatchIndex(line, -1) {
			before := line[prev:m[0]]
			prev = m[1]
			f := strings.Fields(line[m[2]:m[3]])
			if len(f) < 3 {
				t.Errorf("docs/paper.md:%d: tag %q: want check STORE STUDY PATH [OPTION ...]", i+1, line[m[0]:m[1]])
				continue
			}
			tg := tag{line: i + 1, store: f[0], study: f[1], path: f[2]}
			tg.opts.Study = tg.study
			for _, o := range f[3:] {
				switch k, v, _ := strings.Cut(o, "="); {
				case o == "%":
					tg.percent = true
				case k == "baseline":
					tg.opts.Baseline = v
				case k == "target":
					tg.opts.Target = v
				default:
					t.Errorf("docs/paper.md:%d: unknown option %q", i+1, o)
				}
			}
			v := valueRE.FindStringSubmatch(before)
			if v == nil {
				t.Errorf("docs/paper.md:%d: no number before the tag %q", i+1, line[m[0]:m[1]])
				continue
			}
			tg.shown, tg.shownLo, tg.shownHi = v[1], v[2], v[3]
			tags = append(tags, tg)
		}
	}
	return tags
}

// studyJSON builds the report of one study on a copy of a committed store
// (so that the test never writes to it) and returns its JSON as generic
// values.
func studyJSON(t *testing.T, store string, opts report.Options) any {
	t.Helper()
	src := filepath.Join(experiments, store)
	dst := filepath.Join(t.TempDir(), filepath.Base(store))
	if err := copyFile(src, dst); err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	ctx := context.Background()
	s, err := results.OpenExisting(ctx, dst)
	if err != nil {
		t.Fatalf("open %s: %v", src, err)
	}
	defer s.Close()
	rep, err := report.Build(ctx, s, opts)
	if err != nil {
		t.Fatalf("report %s study %s: %v", src, opts.Study, err)
	}
	if len(rep.Studies) != 1 {
		t.Fatalf("report %s study %s: %d studies", src, opts.Study, len(rep.Studies))
	}
	b, err := json.Marshal(rep.Studies[0])
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// walk follows a path through the report's JSON.
func walk(v any, path string) (any, error) {
	for _, seg := range splitPath(path) {
		name, sel, hasSel := strings.Cut(seg, "[")
		if name != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: not an object", name)
			}
			if v, ok = m[name]; !ok {
				return nil, fmt.Errorf("no key %q (keys: %s)", name, keysOf(m))
			}
		}
		if !hasSel {
			continue
		}
		field, want, ok := strings.Cut(strings.TrimSuffix(sel, "]"), "=")
		list, isList := v.([]any)
		if !ok || !isList {
			return nil, fmt.Errorf("%s: want a list and [FIELD=VALUE]", seg)
		}
		var found []any
		for _, e := range list {
			got, err := walk(e, field)
			if err == nil && printed(got) == want {
				found = append(found, e)
			}
		}
		if len(found) != 1 {
			return nil, fmt.Errorf("%s: %d elements match, want 1", seg, len(found))
		}
		v = found[0]
	}
	return v, nil
}

// splitPath splits at the dots outside brackets.
func splitPath(p string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range p {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 {
				out = append(out, p[start:i])
				start = i + 1
			}
		}
	}
	return append(out, p[start:])
}

func printed(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

func keysOf(m map[string]any) string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return strings.Join(k, ", ")
}

func number(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok && !math.IsNaN(f)
}

// format prints x with as many decimals as the document's text s.
func format(x float64, s string) string {
	d := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		d = len(s) - i - 1
	}
	out := strconv.FormatFloat(x, 'f', d, 64)
	if out == "-"+strconv.FormatFloat(0, 'f', d, 64) {
		out = out[1:]
	}
	return out
}

// TestPaperMatchesStores recomputes every tagged number of docs/paper.md
// from the committed stores.
func TestPaperMatchesStores(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	tags := parseTags(t, string(b))
	if len(tags) < 20 {
		t.Fatalf("docs/paper.md has %d check tags: its measured numbers are not all checked", len(tags))
	}
	cache := map[string]any{}
	for _, tg := range tags {
		key := fmt.Sprintf("%s|%+v", tg.store, tg.opts)
		st, ok := cache[key]
		if !ok {
			st = studyJSON(t, tg.store, tg.opts)
			cache[key] = st
		}
		if err := check(tg, st); err != nil {
			t.Errorf("docs/paper.md:%d: %s %s %s: %v", tg.line, tg.store, tg.study, tg.path, err)
		}
	}
}

// check compares a tag's text with the value its path reaches in st.
func check(tg tag, st any) error {
	v, err := walk(st, tg.path)
	if err != nil {
		return err
	}
	scale := 1.0
	if tg.percent {
		scale = 100
	}
	var mean float64
	var ok bool
	var ci []any
	if m, isStat := v.(map[string]any); isStat {
		mean, ok = number(m["mean"])
		ci, _ = m["ci95"].([]any)
	} else {
		mean, ok = number(v)
	}
	if !ok {
		return fmt.Errorf("%v is not a number or a summary with a mean", v)
	}
	want := format(mean*scale, tg.shown)
	got := tg.shown
	if tg.shownLo != "" {
		if len(ci) != 2 {
			return errors.New("the text shows an interval, the report has none")
		}
		lo, _ := number(ci[0])
		hi, _ := number(ci[1])
		want += fmt.Sprintf(" [%s, %s]", format(lo*scale, tg.shownLo), format(hi*scale, tg.shownHi))
		got += fmt.Sprintf(" [%s, %s]", tg.shownLo, tg.shownHi)
	}
	if got != want {
		return fmt.Errorf("the document says %s, the store gives %s", got, want)
	}
	return nil
}

// TestCheck shows that the checker finds a wrong digit, a wrong interval
// and a path that picks nothing, on a report written by hand.
func TestCheck(t *testing.T) {
	var st any
	if err := json.Unmarshal([]byte(`{"counts": {"COMPLETE": 9}, "configs": [
		{"optimizer": "sgd", "params": {"gamma": 0.1}, "test_accuracy": {"mean": 0.66667, "ci95": [0.6512, 0.6821]}},
		{"optimizer": "lrsgd-c", "params": {"gamma": 0.2}, "test_accuracy": {"mean": 0.7, "ci95": null}}]}`), &st); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{"66.7 [65.1, 68.2]%<!-- check s.db x configs[optimizer=sgd].test_accuracy % -->", true},
		{"66.7 [65.1, 68.3]%<!-- check s.db x configs[optimizer=sgd].test_accuracy % -->", false},
		{"66.6<!-- check s.db x configs[params.gamma=0.1].test_accuracy % -->", false},
		{"0.667<!-- check s.db x configs[params.gamma=0.1].test_accuracy -->", true},
		{"70.0 [1, 2]<!-- check s.db x configs[optimizer=lrsgd-c].test_accuracy % -->", false},
		{"9 trials<!-- check s.db x counts.COMPLETE -->", true},
		{"9<!-- check s.db x configs[optimizer=adam].test_accuracy -->", false},
	} {
		tags := parseTags(t, c.line)
		if len(tags) != 1 {
			t.Fatalf("%q: %d tags", c.line, len(tags))
		}
		if err := check(tags[0], st); (err == nil) != c.ok {
			t.Errorf("%q: error %v, want ok=%v", c.line, err, c.ok)
		}
	}
}
