package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Dataset names accepted by Source.Dataset.
const (
	CIFAR10      = "cifar10"
	FashionMNIST = "fashion-mnist"
	Synthetic    = "synthetic"
)

// Names lists the data set names Source.Dataset accepts.
func Names() []string { return []string{CIFAR10, FashionMNIST, Synthetic} }

// EnvDataDir names the environment variable that points at a data folder;
// it is consulted after Source.DataDir.
const EnvDataDir = "LRSGD_DATA"

// DebianFashionMNISTDir is where Debian's dataset-fashion-mnist package
// installs the gzipped IDX files.
const DebianFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Source says which data set to load, from where, and which subset.
type Source struct {
	// Dataset is one of "cifar10", "fashion-mnist" or "synthetic".
	Dataset string
	// DataDir is looked in first (the --data-dir flag); "" skips it.
	DataDir string
	// TrainSize and TestSize take subsets (0 = all; for the synthetic set
	// they are the generated sizes, 0 = 5000 and 1000). Subsets are
	// stratified by class and drawn deterministically from Seed; see Load.
	TrainSize, TestSize int
	// Seed fixes the subsets and the synthetic images.
	Seed uint64
	// Progress receives the download progress bar; nil is quiet.
	Progress io.Writer
	// CacheDir is the per-user cache folder, looked in last and where a
	// download goes; "" means os.UserCacheDir()/lrsgd.
	CacheDir string
	// DownloadURL overrides the official CIFAR-10 archive URL (a mirror
	// must serve the identical file: its MD5 is checked).
	DownloadURL string
	// NoDownload turns the CIFAR-10 download off.
	NoDownload bool

	// Test hooks: records per CIFAR-10 batch file (0 = 10000), the
	// expected MD5 of a downloaded archive ("" = the official one).
	cifarRecords int
	archiveMD5   string
	// Test hook: Fashion-MNIST's default folder ("" = DebianFashionMNISTDir).
	fashionDir string
}

// Load returns the train and test sets of src, validated, and subset to
// TrainSize/TestSize.
//
// Subsets are stratified: each class keeps its share of the set (largest
// remainders round the quotas, ties to the lower class), the members of a
// class are drawn uniformly without replacement by an RNG seeded from
// Seed (train and test from separate streams), and the kept images stay in
// their source order. The same Source always yields the same subsets; a
// size equal to the set's size keeps it whole.
//
// Files are looked for in DataDir, then $LRSGD_DATA, then the cache folder
// (for Fashion-MNIST, DebianFashionMNISTDir comes before the cache); see
// docs/data.md. A missing CIFAR-10 is downloaded into the cache unless
// NoDownload is set. Nothing is returned when any file fails validation.
//
// Before reading or generating anything, Load checks the sizes with
// CheckSizes: a negative size, a CIFAR-10 subset larger than the set, or
// sets that would not fit in the memory available return a *SizeError.
func Load(ctx context.Context, src Source) (train, test *Set, err error) {
	if err := src.CheckSizes(0, 0); err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", src.Dataset, err)
	}
	switch src.Dataset {
	case CIFAR10:
		train, test, err = loadCIFAR10(ctx, src)
	case FashionMNIST:
		train, test, err = loadFashionMNIST(ctx, src)
	case Synthetic:
		train, test, err = generateSynthetic(ctx, src)
		if err != nil {
			return nil, nil, err
		}
		return train, test, validateBoth(train, test)
	default:
		return nil, nil, fmt.Errorf("load: unknown dataset %q, expected %s, %s or %s", src.Dataset, CIFAR10, FashionMNIST, Synthetic)
	}
	if err != nil {
		return nil, nil, err
	}
	return stratifiedSubsets(train, test, src)
}

// stratifiedSubsets takes the subsets of src's sizes of the full train and
// test sets, and validates them.
func stratifiedSubsets(train, test *Set, src Source) (*Set, *Set, error) {
	train, err := stratifiedSubset(train, src.TrainSize, src.Seed, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", src.Dataset, err)
	}
	if test, err = stratifiedSubset(test, src.TestSize, src.Seed, 1); err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", src.Dataset, err)
	}
	if err := validateBoth(train, test); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func validateBoth(train, test *Set) error {
	if err := train.Validate(); err != nil {
		return err
	}
	return test.Validate()
}

// stratifiedSubset returns n images of s chosen as Load documents; n == 0
// or n == s.N returns s itself.
func stratifiedSubset(s *Set, n int, seed uint64, split uint64) (*Set, error) {
	if n == 0 || n == s.N {
		return s, nil
	}
	if n > s.N {
		return nil, fmt.Errorf("subset of %s: %d images asked, the set has %d", s.Name, n, s.N)
	}
	counts := s.ClassCounts()
	quota := make([]int, s.Classes)
	type rem struct{ frac, class int }
	rems := make([]rem, s.Classes)
	taken := 0
	for c, k := range counts {
		quota[c] = k * n / s.N
		taken += quota[c]
		rems[c] = rem{k * n % s.N, c}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return b.frac - a.frac })
	for i := 0; taken < n; i++ {
		quota[rems[i].class]++
		taken++
	}
	// Indices of every class in source order, then a seeded partial
	// Fisher–Yates per class.
	byClass := make([][]int32, s.Classes)
	for i, l := range s.Labels {
		byClass[l] = append(byClass[l], int32(i))
	}
	r := newRNG(mix(seed, domSubset, split))
	keep := make([]int32, 0, n)
	for c, idx := range byClass {
		for k := 0; k < quota[c]; k++ {
			j := k + r.Intn(len(idx)-k)
			idx[k], idx[j] = idx[j], idx[k]
		}
		keep = append(keep, idx[:quota[c]]...)
	}
	slices.Sort(keep)
	out := *s
	out.N = n
	sz := s.ImageSize()
	out.Images = make([]uint8, n*sz)
	out.Labels = make([]uint8, n)
	for k, i := range keep {
		copy(out.Images[k*sz:(k+1)*sz], s.Images[int(i)*sz:(int(i)+1)*sz])
		out.Labels[k] = s.Labels[i]
	}
	out.Name = fmt.Sprintf("%s[%d of %d, seed %d]", s.Name, n, s.N, seed)
	return &out, nil
}

// cacheDir returns the cache folder of src.
func (src Source) cacheDir() (string, error) {
	if src.CacheDir != "" {
		return src.CacheDir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("per-user cache folder: %w", err)
	}
	return filepath.Join(d, "lrsgd"), nil
}

// roots returns the folders to look in, in order, with where each came
// from; extra folders (e.g. Debian's) go before the cache.
func (src Source) roots(extra ...string) ([]root, error) {
	var rs []root
	if src.DataDir != "" {
		rs = append(rs, root{src.DataDir, "--data-dir"})
	}
	if d := os.Getenv(EnvDataDir); d != "" {
		rs = append(rs, root{d, "$" + EnvDataDir})
	}
	for _, e := range extra {
		rs = append(rs, root{e, "default"})
	}
	c, err := src.cacheDir()
	if err != nil {
		return rs, err
	}
	rs = append(rs, root{c, "cache"})
	return rs, nil
}

type root struct{ dir, from string }

// notFoundError reports that a data set is in none of the folders tried.
type notFoundError struct {
	dataset string
	tried   []string // folders, with the origin of each
	hint    string
	cause   error // e.g. the failed download
}

func (e *notFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s not found; folders tried:", e.dataset)
	for _, t := range e.tried {
		fmt.Fprintf(&b, "\n  %s", t)
	}
	if e.cause != nil {
		fmt.Fprintf(&b, "\n%v", e.cause)
	}
	fmt.Fprintf(&b, "\n%s", e.hint)
	return b.String()
}

func (e *notFoundError) Unwrap() error { return e.cause }

// ErrNotFound is matched (errors.Is) by the error Load returns when the
// data set is in none of the folders it tried.
var ErrNotFound = errors.New("data set not found")

func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func checkCtx(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
