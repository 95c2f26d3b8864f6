package data

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxImages returns an unsigned-byte IDX image file of n rows×cols images.
func idxImages(n, rows, cols int, pixel func(i, p int) byte) []byte {
	b := make([]byte, 16+n*rows*cols)
	binary.BigEndian.PutUint32(b, idxImagesMagic)
	binary.BigEndian.PutUint32(b[4:], uint32(n))
	binary.BigEndian.PutUint32(b[8:], uint32(rows))
	binary.BigEndian.PutUint32(b[12:], uint32(cols))
	for i := 0; i < n; i++ {
		for p := 0; p < rows*cols; p++ {
			b[16+i*rows*cols+p] = pixel(i, p)
		}
	}
	return b
}

// idxLabels returns an unsigned-byte IDX label file.
func idxLabels(labels []byte) []byte {
	b := make([]byte, 8, 8+len(labels))
	binary.BigEndian.PutUint32(b, idxLabelsMagic)
	binary.BigEndian.PutUint32(b[4:], uint32(len(labels)))
	return append(b, labels...)
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fashionFilesSmall returns the four IDX files (uncompressed) with
// nTrain/nTest images.
func fashionFilesSmall(nTrain, nTest int) map[string][]byte {
	labels := func(n, k int) []byte {
		l := make([]byte, n)
		for i := range l {
			l[i] = byte((3*i + k) % 10)
		}
		return l
	}
	px := func(k int) func(i, p int) byte { return func(i, p int) byte { return byte(i*5 + p*3 + k) } }
	return map[string][]byte{
		"train-images-idx3-ubyte": idxImages(nTrain, 28, 28, px(0)),
		"train-labels-idx1-ubyte": idxLabels(labels(nTrain, 0)),
		"t10k-images-idx3-ubyte":  idxImages(nTest, 28, 28, px(1)),
		"t10k-labels-idx1-ubyte":  idxLabels(labels(nTest, 1)),
	}
}

// writeFashion writes the files into dir, gzipped (name + ".gz") or plain.
func writeFashion(t *testing.T, dir string, files map[string][]byte, gz bool) {
	t.Helper()
	for name, b := range files {
		if gz {
			name, b = name+".gz", gzipBytes(t, b)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFashionSmall(t *testing.T) {
	files := fashionFilesSmall(30, 12)
	for _, gz := range []bool{true, false} {
		dir := t.TempDir()
		writeFashion(t, dir, files, gz)
		train, test, err := Load(context.Background(), offlineSource(t, FashionMNIST, dir))
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if train.N != 30 || test.N != 12 || train.C != 1 || train.H != 28 || train.W != 28 || train.Classes != 10 {
			t.Fatalf("gz=%v: shapes %d %d %dx%dx%d/%d", gz, train.N, test.N, train.C, train.H, train.W, train.Classes)
		}
		for _, tc := range []struct {
			set       *Set
			img, lbls string
		}{{train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte"}, {test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}} {
			if !bytes.Equal(tc.set.Images, files[tc.img][16:]) || !bytes.Equal(tc.set.Labels, files[tc.lbls][8:]) {
				t.Errorf("gz=%v %s: data differ from the files written", gz, tc.set.Name)
			}
			stored, _ := os.ReadFile(filepath.Join(dir, tc.set.Sources[0].Name))
			if tc.set.Sources[0].SHA256 != sha256Hex(stored) {
				t.Errorf("gz=%v %s: source sum %s is not the stored file's", gz, tc.set.Name, tc.set.Sources[0].SHA256)
			}
		}
		if train.Augment || train.Mean[0] != 0.2860 || train.Std[0] != 0.3530 {
			t.Errorf("augment %v, constants %v %v", train.Augment, train.Mean, train.Std)
		}
	}
}

func TestFashionCorrupt(t *testing.T) {
	good := fashionFilesSmall(30, 12)
	img := good["train-images-idx3-ubyte"]
	badMagic := append([]byte(nil), img...)
	badMagic[3] = 0x02
	badRows := append([]byte(nil), img...)
	binary.BigEndian.PutUint32(badRows[8:], 27)
	lbl := good["train-labels-idx1-ubyte"]
	badLabel := append([]byte(nil), lbl...)
	badLabel[8+17] = 10
	gzTrunc := gzipBytes(t, img)
	gzTrunc = gzTrunc[:len(gzTrunc)/2]
	gzCRC := gzipBytes(t, img)
	gzCRC[len(gzCRC)-8] ^= 1 // CRC-32 in the gzip trailer
	tests := []struct {
		name, file string
		content    []byte
		gz         bool // content is already the stored (gzipped) bytes
		want       []string
	}{
		{"image magic", "train-images-idx3-ubyte", badMagic, false, []string{"byte offset 0", "magic 0x00000802, expected 0x00000803"}},
		{"rows", "train-images-idx3-ubyte", badRows, false, []string{"byte offset 8", "27 rows, expected 28"}},
		{"images truncated", "train-images-idx3-ubyte", img[:16+5*784+100], false, []string{"truncated at byte offset 4036", "inside image 5", "expected 23536 bytes"}},
		{"images extra", "train-images-idx3-ubyte", append(append([]byte(nil), img...), 1), false, []string{"extra data at byte offset 23536"}},
		{"header truncated", "train-images-idx3-ubyte", img[:10], false, []string{"truncated at byte offset 10", "16-byte IDX image header"}},
		{"label range", "train-labels-idx1-ubyte", badLabel, false, []string{"byte offset 25", "label 10, expected 0..9"}},
		{"label magic", "train-labels-idx1-ubyte", img, false, []string{"magic 0x00000803, expected 0x00000801"}},
		{"labels truncated", "train-labels-idx1-ubyte", lbl[:20], false, []string{"truncated at byte offset 20", "expected 38 bytes"}},
		{"count mismatch", "train-labels-idx1-ubyte", idxLabels(make([]byte, 29)), false, []string{"30 images", "29 labels"}},
		{"gzip truncated", "train-images-idx3-ubyte", gzTrunc, true, []string{"gzip stream", "unexpected EOF"}},
		{"gzip checksum", "train-images-idx3-ubyte", gzCRC, true, []string{"gzip stream", "checksum"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFashion(t, dir, good, true)
			content := tc.content
			if !tc.gz {
				content = gzipBytes(t, content)
			}
			path := filepath.Join(dir, tc.file+".gz")
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			train, test, err := Load(context.Background(), offlineSource(t, FashionMNIST, dir))
			if err == nil || train != nil || test != nil {
				t.Fatalf("Load = %v, %v, %v; want an error and no sets", train, test, err)
			}
			for _, w := range append([]string{path}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestFashionNotFound(t *testing.T) {
	dir, debian := t.TempDir(), t.TempDir()
	src := offlineSource(t, FashionMNIST, dir)
	src.fashionDir = debian
	_, _, err := Load(context.Background(), src)
	for _, w := range []string{dir, debian, src.CacheDir, "--data-dir", EnvDataDir, "dataset-fashion-mnist"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}

func TestFashionDebian(t *testing.T) {
	if !isFile(filepath.Join(DebianFashionMNISTDir, "train-images-idx3-ubyte.gz")) {
		t.Skipf("Debian's Fashion-MNIST is not in %s (apt install dataset-fashion-mnist)", DebianFashionMNISTDir)
	}
	train, test, err := Load(context.Background(), offlineSource(t, FashionMNIST, ""))
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 || test.N != 10000 {
		t.Fatalf("N = %d/%d, want 60000/10000", train.N, test.N)
	}
	for c, n := range train.ClassCounts() {
		if n != 6000 {
			t.Errorf("train class %d: %d, want 6000", c, n)
		}
	}
	for c, n := range test.ClassCounts() {
		if n != 1000 {
			t.Errorf("test class %d: %d, want 1000", c, n)
		}
	}
	// The normalisation constants are the train set's pixel mean and std.
	var sum, sq float64
	for _, v := range train.Images {
		x := float64(v) / 255
		sum += x
		sq += x * x
	}
	n := float64(len(train.Images))
	mean := sum / n
	std := math.Sqrt(sq/n - mean*mean)
	t.Logf("Fashion-MNIST train pixel mean %.6f std %.6f", mean, std)
	if math.Abs(mean-float64(fashionMean[0])) > 5e-5 || math.Abs(std-float64(fashionStd[0])) > 5e-5 {
		t.Errorf("train mean %.6f std %.6f, constants %v %v", mean, std, fashionMean, fashionStd)
	}
}
