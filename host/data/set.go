package data

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Set is an in-memory labelled image set. Images are raw uint8 in NCHW
// order: image n is C planes of H*W bytes, each plane row-major.
type Set struct {
	// Name identifies the set, e.g. "cifar10/train".
	Name string
	// N is the number of images; C, H and W their shape; Classes the
	// number of classes (labels are 0..Classes-1).
	N, C, H, W, Classes int
	// Images holds N*C*H*W raw pixel values.
	Images []uint8
	// Labels holds N labels, each < Classes.
	Labels []uint8
	// Mean and Std are the per-channel normalisation constants (len C):
	// a batched pixel v becomes (v/255 - Mean[c]) / Std[c].
	Mean, Std []float32
	// Checksum is the sha256 (hex) of the source: of the manifest of
	// Sources for files read from disk, of the generator parameters for
	// the synthetic set. A subset keeps the checksum of its source; the
	// subset itself is fixed by Source.Seed and the sizes.
	Checksum string
	// Sources lists the files the set was read from with their sha256, in
	// read order (empty for the synthetic set).
	Sources []FileSum
	// ClassNames holds a human-readable name per class (len Classes).
	ClassNames []string
	// Augment says whether the paper's crop+flip augmentation is meant for
	// this set (true for CIFAR-10 training data); NewStream does not read
	// it, callers pass it on.
	Augment bool
}

// FileSum is the sha256 of one source file, as in a SHA256SUMS line.
type FileSum struct {
	Name   string // base name, e.g. "data_batch_1.bin"
	SHA256 string // lower-case hex
}

// manifestChecksum is the sha256 of the SHA256SUMS-style text
// "<sha256>  <name>\n" of the files, in order.
func manifestChecksum(files []FileSum) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s  %s\n", f.SHA256, f.Name)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ImageSize returns C*H*W, the number of values per image.
func (s *Set) ImageSize() int { return s.C * s.H * s.W }

// Validate checks the set's internal consistency: shapes, slice lengths,
// label range and normalisation constants.
func (s *Set) Validate() error {
	switch {
	case s.N < 0 || s.C <= 0 || s.H <= 0 || s.W <= 0:
		return fmt.Errorf("set %q: bad shape N=%d C=%d H=%d W=%d", s.Name, s.N, s.C, s.H, s.W)
	case s.Classes <= 0 || s.Classes > 256:
		return fmt.Errorf("set %q: %d classes, expected 1..256", s.Name, s.Classes)
	case len(s.Images) != s.N*s.ImageSize():
		return fmt.Errorf("set %q: %d image bytes, expected N*C*H*W = %d", s.Name, len(s.Images), s.N*s.ImageSize())
	case len(s.Labels) != s.N:
		return fmt.Errorf("set %q: %d labels, expected N = %d", s.Name, len(s.Labels), s.N)
	case len(s.Mean) != s.C || len(s.Std) != s.C:
		return fmt.Errorf("set %q: %d means and %d stds, expected C = %d each", s.Name, len(s.Mean), len(s.Std), s.C)
	case s.ClassNames != nil && len(s.ClassNames) != s.Classes:
		return fmt.Errorf("set %q: %d class names, expected %d", s.Name, len(s.ClassNames), s.Classes)
	}
	for c, sd := range s.Std {
		if !(sd > 0) {
			return fmt.Errorf("set %q: std[%d] = %v, expected > 0", s.Name, c, sd)
		}
	}
	for i, l := range s.Labels {
		if int(l) >= s.Classes {
			return fmt.Errorf("set %q: label %d of image %d, expected 0..%d", s.Name, l, i, s.Classes-1)
		}
	}
	return nil
}

// ClassCounts returns the number of images of each class.
func (s *Set) ClassCounts() []int {
	counts := make([]int, s.Classes)
	for _, l := range s.Labels {
		counts[l]++
	}
	return counts
}

// normLUT returns the normalisation table: lut[c*256+v] is the float32
// value of raw pixel v in channel c, computed in float32 in the order
// torchvision's ToTensor and Normalize use ((v/255 - mean) / std), so the
// values are bit-identical to theirs.
func (s *Set) normLUT() []float32 {
	lut := make([]float32, s.C*256)
	for c := 0; c < s.C; c++ {
		m, sd := s.Mean[c], s.Std[c]
		for v := 0; v < 256; v++ {
			x := float32(v) / float32(255)
			x -= m
			lut[c*256+v] = x / sd
		}
	}
	return lut
}

// Normalize returns the float32 value that a raw pixel v of channel c
// takes in a batch.
func (s *Set) Normalize(c int, v uint8) float32 {
	x := float32(v) / float32(255)
	x -= s.Mean[c]
	return x / s.Std[c]
}

// Batch writes images start..start+n-1 (clipped to the end of the set) in
// order, normalised and never augmented, into x (NCHW float32) and their
// labels into y; it returns the number of images written. x must hold at
// least that many images and y that many labels. It does not allocate.
func (s *Set) Batch(start, n int, x []float32, y []int) int {
	if start < 0 || n < 0 {
		panic(fmt.Sprintf("data: Set.Batch(%d, %d): negative argument", start, n))
	}
	if start >= s.N {
		return 0
	}
	if start+n > s.N {
		n = s.N - start
	}
	sz := s.ImageSize()
	if len(x) < n*sz || len(y) < n {
		panic(fmt.Sprintf("data: Set.Batch: x has %d values and y %d labels, need %d and %d", len(x), len(y), n*sz, n))
	}
	hw := s.H * s.W
	var lut [256]float32
	for c := 0; c < s.C; c++ {
		m, sd := s.Mean[c], s.Std[c]
		for v := range lut {
			f := float32(v) / float32(255)
			f -= m
			lut[v] = f / sd
		}
		for i := 0; i < n; i++ {
			src := s.Images[(start+i)*sz+c*hw : (start+i)*sz+(c+1)*hw]
			dst := x[i*sz+c*hw : i*sz+(c+1)*hw]
			dst = dst[:len(src)]
			for k, v := range src {
				dst[k] = lut[v]
			}
		}
	}
	for i := 0; i < n; i++ {
		y[i] = int(s.Labels[start+i])
	}
	return n
}

// WithReplaced returns a copy of s in which image i (and its label) is
// replaced by image j of from — the neighbouring data set S' of the
// uniform-stability definition. s and from are left untouched; the copy
// owns new Images and Labels slices. The shapes and class counts of s and
// from must agree.
func (s *Set) WithReplaced(i int, from *Set, j int) (*Set, error) {
	if i < 0 || i >= s.N {
		return nil, fmt.Errorf("replace in %q: index %d, expected 0..%d", s.Name, i, s.N-1)
	}
	if j < 0 || j >= from.N {
		return nil, fmt.Errorf("replace from %q: index %d, expected 0..%d", from.Name, j, from.N-1)
	}
	if from.C != s.C || from.H != s.H || from.W != s.W || from.Classes != s.Classes {
		return nil, fmt.Errorf("replace in %q from %q: shape %dx%dx%d/%d classes, expected %dx%dx%d/%d classes",
			s.Name, from.Name, from.C, from.H, from.W, from.Classes, s.C, s.H, s.W, s.Classes)
	}
	out := *s
	out.Images = append([]uint8(nil), s.Images...)
	out.Labels = append([]uint8(nil), s.Labels...)
	out.Sources = append([]FileSum(nil), s.Sources...)
	sz := s.ImageSize()
	copy(out.Images[i*sz:(i+1)*sz], from.Images[j*sz:(j+1)*sz])
	out.Labels[i] = from.Labels[j]
	out.Name = fmt.Sprintf("%s[%d<-%s:%d]", s.Name, i, from.Name, j)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s replace %d with %s:%d", s.Checksum, i, from.Checksum, j)))
	out.Checksum = hex.EncodeToString(sum[:])
	return &out, nil
}
