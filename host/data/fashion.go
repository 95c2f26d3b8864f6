package data

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Fashion-MNIST normalisation constants: the mean and standard deviation
// of all pixels (scaled to [0,1]) of the 60,000 training images, computed
// by TestFashionDebian from Debian's files (0.286040, 0.353024).
var (
	fashionMean = []float32{0.2860}
	fashionStd  = []float32{0.3530}
)

var fashionClassNames = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// IDX magic numbers: 0x00 0x00, type 0x08 (unsigned byte), dimension count.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// Fashion-MNIST file base names; each may also carry a .gz suffix.
var fashionFiles = [4]string{
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
}

// loadFashionMNIST finds and reads the four IDX files.
func loadFashionMNIST(ctx context.Context, src Source) (train, test *Set, err error) {
	def := DebianFashionMNISTDir
	if src.fashionDir != "" {
		def = src.fashionDir
	}
	roots, rootsErr := src.roots(def)
	var tried []string
	for _, r := range roots {
		for _, d := range []string{r.dir, filepath.Join(r.dir, "fashion-mnist")} {
			tried = append(tried, fmt.Sprintf("%s (%s)", d, r.from))
			if p := idxPath(d, fashionFiles[0]); p != "" {
				return readFashionDir(ctx, d)
			}
		}
	}
	nf := &notFoundError{
		dataset: "Fashion-MNIST",
		tried:   tried,
		cause:   rootsErr,
		hint: fmt.Sprintf("install Debian's dataset-fashion-mnist (files in %s), or point at a folder holding "+
			"train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "+
			"(gzipped or plain) with --data-dir DIR or %s=DIR", def, EnvDataDir),
	}
	return nil, nil, nf
}

// idxPath returns the path of base (gzipped preferred) in dir, or "".
func idxPath(dir, base string) string {
	for _, p := range []string{filepath.Join(dir, base+".gz"), filepath.Join(dir, base)} {
		if isFile(p) {
			return p
		}
	}
	return ""
}

// readFashionDir reads the Fashion-MNIST files of dir.
func readFashionDir(ctx context.Context, dir string) (train, test *Set, err error) {
	var sets [2]*Set
	for k, name := range []string{"fashion-mnist/train", "fashion-mnist/test"} {
		s := &Set{
			Name: name, C: 1, H: 28, W: 28, Classes: 10,
			Mean:       append([]float32(nil), fashionMean...),
			Std:        append([]float32(nil), fashionStd...),
			ClassNames: append([]string(nil), fashionClassNames...),
		}
		imgBase, lblBase := fashionFiles[2*k], fashionFiles[2*k+1]
		imgPath, lblPath := idxPath(dir, imgBase), idxPath(dir, lblBase)
		for _, p := range [][2]string{{imgPath, imgBase}, {lblPath, lblBase}} {
			if p[0] == "" {
				return nil, nil, fmt.Errorf("load fashion-mnist %s: missing %s(.gz)", dir, p[1])
			}
		}
		if err := checkCtx(ctx, "load fashion-mnist "+dir); err != nil {
			return nil, nil, err
		}
		imgs, imgSum, err := readIDXFile(imgPath)
		if err != nil {
			return nil, nil, err
		}
		n, images, err := parseIDXImages(imgs, 28, 28)
		if err != nil {
			return nil, nil, fmt.Errorf("load fashion-mnist %s: %w", imgPath, err)
		}
		lbls, lblSum, err := readIDXFile(lblPath)
		if err != nil {
			return nil, nil, err
		}
		labels, err := parseIDXLabels(lbls, 10)
		if err != nil {
			return nil, nil, fmt.Errorf("load fashion-mnist %s: %w", lblPath, err)
		}
		if len(labels) != n {
			return nil, nil, fmt.Errorf("load fashion-mnist: %s holds %d images but %s holds %d labels, expected equal counts",
				imgPath, n, lblPath, len(labels))
		}
		s.N, s.Images, s.Labels = n, images, labels
		s.Sources = []FileSum{{filepath.Base(imgPath), imgSum}, {filepath.Base(lblPath), lblSum}}
		s.Checksum = manifestChecksum(s.Sources)
		sets[k] = s
	}
	return sets[0], sets[1], nil
}

// readIDXFile reads a file, gunzipping it when it starts with the gzip
// magic, and returns its content and the sha256 of the file as stored.
func readIDXFile(p string) ([]byte, string, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("load fashion-mnist: %w", err)
	}
	sum := sha256.Sum256(raw)
	if len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		return raw, hex.EncodeToString(sum[:]), nil
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("load fashion-mnist %s: byte offset 0: gzip header: %w", p, err)
	}
	var out bytes.Buffer
	if n, err := io.Copy(&out, gz); err != nil {
		return nil, "", fmt.Errorf("load fashion-mnist %s: gzip stream (%d compressed bytes) broken after %d decompressed bytes: %w, expected a complete gzip stream",
			p, len(raw), n, err)
	}
	return out.Bytes(), hex.EncodeToString(sum[:]), nil
}

// parseIDXImages checks an unsigned-byte IDX file of N×rows×cols images
// and returns N and the pixels. Offsets in errors are into the
// (decompressed) IDX data.
func parseIDXImages(b []byte, rows, cols int) (int, []uint8, error) {
	if len(b) < 16 {
		return 0, nil, fmt.Errorf("truncated at byte offset %d: expected a 16-byte IDX image header", len(b))
	}
	if m := binary.BigEndian.Uint32(b); m != idxImagesMagic {
		return 0, nil, fmt.Errorf("byte offset 0: magic 0x%08x, expected 0x%08x (unsigned-byte IDX, 3 dimensions)", m, idxImagesMagic)
	}
	n := int(binary.BigEndian.Uint32(b[4:]))
	if r := int(binary.BigEndian.Uint32(b[8:])); r != rows {
		return 0, nil, fmt.Errorf("byte offset 8: %d rows, expected %d", r, rows)
	}
	if c := int(binary.BigEndian.Uint32(b[12:])); c != cols {
		return 0, nil, fmt.Errorf("byte offset 12: %d columns, expected %d", c, cols)
	}
	want := 16 + n*rows*cols
	if len(b) < want {
		return 0, nil, fmt.Errorf("truncated at byte offset %d (inside image %d): expected %d bytes (16-byte header + %d images of %d×%d)",
			len(b), (len(b)-16)/(rows*cols), want, n, rows, cols)
	}
	if len(b) > want {
		return 0, nil, fmt.Errorf("extra data at byte offset %d: expected exactly %d bytes (16-byte header + %d images of %d×%d)",
			want, want, n, rows, cols)
	}
	return n, b[16:], nil
}

// parseIDXLabels checks an unsigned-byte IDX label file and returns the
// labels, each < classes.
func parseIDXLabels(b []byte, classes int) ([]uint8, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("truncated at byte offset %d: expected an 8-byte IDX label header", len(b))
	}
	if m := binary.BigEndian.Uint32(b); m != idxLabelsMagic {
		return nil, fmt.Errorf("byte offset 0: magic 0x%08x, expected 0x%08x (unsigned-byte IDX, 1 dimension)", m, idxLabelsMagic)
	}
	n := int(binary.BigEndian.Uint32(b[4:]))
	want := 8 + n
	if len(b) < want {
		return nil, fmt.Errorf("truncated at byte offset %d: expected %d bytes (8-byte header + %d labels)", len(b), want, n)
	}
	if len(b) > want {
		return nil, fmt.Errorf("extra data at byte offset %d: expected exactly %d bytes (8-byte header + %d labels)", want, want, n)
	}
	labels := b[8:]
	for i, l := range labels {
		if int(l) >= classes {
			return nil, fmt.Errorf("byte offset %d (label %d): label %d, expected 0..%d", 8+i, i, l, classes-1)
		}
	}
	return labels, nil
}
