package blocks_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// The files in testdata/golden were written by recordGolden, one
// json.MarshalIndent(golden, "", "\t") per entry of goldenCases, with
// this package at commit d707638 (blocks 1.0.0, Save blob version 1),
// before its M_t, inner-lr and λ policies became values of their own.
// They pin what a checkpoint written by that code must continue to do, so
// they are not to be rewritten with later code.

const (
	goldenN      = 70  // parameters
	goldenSeed   = 99  // InitConfig.Seed
	goldenSaveAt = 37  // the blob is saved after this many steps
	goldenSteps  = 150 // the uninterrupted run
)

// golden is one optimizer's recorded run: the Save blob, Params and State
// after goldenSaveAt steps of runSteps, and the results, Params and State
// of the uninterrupted run of goldenSteps steps. Vectors hold the bits of
// each float32 (math.Float32bits).
type golden struct {
	Case        string                 `json:"case"`
	Hyperparams map[string]string      `json:"hyperparams"`
	NumParams   int                    `json:"num_params"`
	Seed        uint64                 `json:"seed"`
	SaveAt      int64                  `json:"save_at"`
	Steps       int64                  `json:"steps"`
	Blob        []byte                 `json:"blob"`
	SavedParams []uint32               `json:"saved_params"`
	SavedState  []uint32               `json:"saved_state"`
	Results     []optimizer.StepResult `json:"results"`
	FinalParams []uint32               `json:"final_params"`
	FinalState  []uint32               `json:"final_state"`
}

func bits(x []float32) []uint32 {
	b := make([]uint32, len(x))
	for i, v := range x {
		b[i] = math.Float32bits(v)
	}
	return b
}

func goldenPath(name string) string {
	return filepath.Join("testdata", "golden", strings.ReplaceAll(name, " ", "-")+".json")
}

// recordGolden runs the optimizer from the test initialisation and
// records the run.
func recordGolden(t *testing.T, name string, newOpt func() optimizer.Optimizer, hp map[string]string) golden {
	t.Helper()
	ctx := context.Background()
	opt := newOpt()
	buf := initTest(t, opt, optimizer.InitConfig{NumParams: goldenN, Seed: goldenSeed, Hyperparams: hp})
	g := golden{Case: name, Hyperparams: hp, NumParams: goldenN, Seed: goldenSeed, SaveAt: goldenSaveAt, Steps: goldenSteps}
	var done int64
	g.Results = runSteps(t, opt, buf, 0, goldenSaveAt, &done)
	var err error
	if g.Blob, err = opt.Save(ctx); err != nil {
		t.Fatal(err)
	}
	g.SavedParams, g.SavedState = bits(buf.Params), bits(buf.State)
	g.Results = append(g.Results, runSteps(t, opt, buf, goldenSaveAt, goldenSteps, &done)...)
	g.FinalParams, g.FinalState = bits(buf.Params), bits(buf.State)
	return g
}

// goldenCases are the recorded runs: every shipped optimizer and the
// variants with other policies or rule state, the first nine of
// saveRestoreCases as they stood at d707638. A case added there later has
// no recorded run.
var goldenCases = saveRestoreCases[:9]

// TestGoldenBlobs holds today's code to runs recorded by blocks 1.0.0
// before its policies became values: the same results, Params and State
// bit for bit, and the recorded (version-1) Save blobs restore and
// continue exactly as the recorded uninterrupted run.
func TestGoldenBlobs(t *testing.T) {
	for _, tc := range goldenCases {
		path := goldenPath(tc.name)
		t.Run(tc.name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want golden
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if want.Case != tc.name || !maps.Equal(want.Hyperparams, tc.hp) {
				t.Fatalf("%s records %q with %v, want %q with %v", path, want.Case, want.Hyperparams, tc.name, tc.hp)
			}
			checkGolden(t, tc.new, want)
		})
	}
}

// checkGolden asserts that today's code reproduces the recorded run bit
// for bit (results, Params, State), and that the recorded blob, restored
// into a fresh optimizer with the recorded Params and State, holds the
// same state as today's Save at that step and continues exactly as the
// recorded uninterrupted run.
func checkGolden(t *testing.T, newOpt func() optimizer.Optimizer, want golden) {
	t.Helper()
	ctx := context.Background()
	cfg := optimizer.InitConfig{NumParams: want.NumParams, Seed: want.Seed, Hyperparams: want.Hyperparams}
	got := recordGolden(t, want.Case, newOpt, want.Hyperparams)
	compareRun(t, "uninterrupted run", want.Results, got.Results, want.FinalParams, got.FinalParams, want.FinalState, got.FinalState)
	if len(want.Blob) < 10 || binary.LittleEndian.Uint16(want.Blob[8:]) != 1 {
		t.Fatalf("the recorded blob is not a version-1 blob")
	}

	opt := newOpt()
	buf, err := opt.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range want.SavedParams {
		buf.Params[i] = math.Float32frombits(b)
	}
	for i, b := range want.SavedState {
		buf.State[i] = math.Float32frombits(b)
	}
	if err := opt.Restore(ctx, want.Blob); err != nil {
		t.Fatalf("Restore(recorded blob): %v", err)
	}
	if blob, err := opt.Save(ctx); err != nil || string(blob) != string(got.Blob) {
		t.Errorf("Save right after restoring the recorded blob differs from Save after %d uninterrupted steps (%v)", want.SaveAt, err)
	}
	var done int64
	for _, r := range want.Results[:want.SaveAt] {
		if r.OuterEnded {
			done++
		}
	}
	res := runSteps(t, opt, buf, want.SaveAt, want.Steps, &done)
	compareRun(t, "restored run", want.Results[want.SaveAt:], res, want.FinalParams, bits(buf.Params), want.FinalState, bits(buf.State))
}

func compareRun(t *testing.T, what string, wantR, gotR []optimizer.StepResult, wantP, gotP, wantS, gotS []uint32) {
	t.Helper()
	if len(gotR) != len(wantR) {
		t.Fatalf("%s: %d results, recorded %d", what, len(gotR), len(wantR))
	}
	for i := range wantR {
		if gotR[i] != wantR[i] {
			t.Fatalf("%s: result %d = %+v, recorded %+v", what, i, gotR[i], wantR[i])
		}
	}
	for i := range wantP {
		if gotP[i] != wantP[i] {
			t.Fatalf("%s: param %d = %g, recorded %g", what, i, math.Float32frombits(gotP[i]), math.Float32frombits(wantP[i]))
		}
	}
	for i := range wantS {
		if gotS[i] != wantS[i] {
			t.Fatalf("%s: state %d = %g, recorded %g", what, i, math.Float32frombits(gotS[i]), math.Float32frombits(wantS[i]))
		}
	}
}

func TestGoldenBlobsRefused(t *testing.T) {
	ctx := context.Background()
	load := func(name string) golden {
		raw, err := os.ReadFile(goldenPath(name))
		if err != nil {
			t.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	r, psi := load("lrsgd-r"), load("lrsgd-c psi")
	badRNG := slices.Clone(r.Blob)
	badRNG[bytes.Index(badRNG, []byte("pcg:"))] = 'x'
	// Version 1: header, step, t, k, m, λ, the PCG (uint16 length + 20
	// bytes), G², σ², the sketch flag, then the sketch count.
	cntAt := 8 + 2 + 2 + len("lrsgd-c") + 8 + 8 + 4*8 + 2 + 20 + 8 + 8 + 1
	if binary.LittleEndian.Uint32(psi.Blob[cntAt:]) != uint32(psi.NumParams) {
		t.Fatalf("no sketch count at offset %d of the recorded psi blob", cntAt)
	}
	shortSketch := slices.Concat(psi.Blob[:cntAt], binary.LittleEndian.AppendUint32(nil, uint32(psi.NumParams-1)), psi.Blob[cntAt+4+8:])
	tests := []struct {
		name string
		new  func() optimizer.Optimizer
		g    golden
		blob []byte
		want string
	}{
		{"truncated", blocks.NewLRSGDR, r, r.Blob[:len(r.Blob)-3], "blob truncated"},
		{"trailing bytes", blocks.NewLRSGDR, r, append(slices.Clone(r.Blob), 0), "1 trailing bytes"},
		{"bad rng state", blocks.NewLRSGDR, r, badRNG, "lrsgd-r: restore: rng state:"},
		{"psi truncated", blocks.NewLRSGDC, psi, psi.Blob[:len(psi.Blob)-20], "blob truncated"},
		{"psi sketch of another size", blocks.NewLRSGDC, psi, shortSketch, "estimator sketch: init flag 1 and 69 values, want 0 or 1 and 70 values"},
		{"psi blob into constant M_t", blocks.NewLRSGDC, golden{NumParams: psi.NumParams, Seed: psi.Seed}, psi.Blob,
			"different version, NumParams or hyperparameters"},
	}
	for _, tt := range tests {
		opt := tt.new()
		if _, err := opt.Init(ctx, optimizer.InitConfig{NumParams: tt.g.NumParams, Seed: tt.g.Seed, Hyperparams: tt.g.Hyperparams}); err != nil {
			t.Fatal(err)
		}
		before, _ := opt.Save(ctx)
		if err := opt.Restore(ctx, tt.blob); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Restore error %v, want %q", tt.name, err, tt.want)
		}
		if after, _ := opt.Save(ctx); !bytes.Equal(after, before) {
			t.Errorf("%s: a refused Restore changed the state", tt.name)
		}
	}
}
