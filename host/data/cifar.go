package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// CIFAR-10 binary layout.
const (
	cifarRecordSize   = 1 + 3*32*32 // label byte, then R, G, B planes of 32×32
	cifarRecords      = 10000       // records per batch file
	cifarArchiveName  = "cifar-10-binary.tar.gz"
	cifarFolderName   = "cifar-10-batches-bin"
	cifarURL          = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
	cifarArchiveMD5   = "c32a1d4ab5d03f1284b67883e8d87530"
	cifarTrainBatches = 5
)

// CIFAR-10 normalisation constants of the reference code.
var (
	cifarMean = []float32{0.4914, 0.4822, 0.4465}
	cifarStd  = []float32{0.2023, 0.1994, 0.2010}
)

// CIFAR10Mean and CIFAR10Std return the reference code's normalisation
// constants for CIFAR-10 (fresh copies).
func CIFAR10Mean() []float32 { return append([]float32(nil), cifarMean...) }

// CIFAR10Std: see CIFAR10Mean.
func CIFAR10Std() []float32 { return append([]float32(nil), cifarStd...) }

var cifarClassNames = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// cifarFiles lists the batch files in load order: train batches, then test.
func cifarFiles() []string {
	names := make([]string, 0, cifarTrainBatches+1)
	for i := 1; i <= cifarTrainBatches; i++ {
		names = append(names, fmt.Sprintf("data_batch_%d.bin", i))
	}
	return append(names, "test_batch.bin")
}

// loadCIFAR10 finds CIFAR-10 (downloading it if allowed) and reads it.
func loadCIFAR10(ctx context.Context, src Source) (train, test *Set, err error) {
	roots, rootsErr := src.roots()
	var tried []string
	for _, r := range roots {
		if isFile(r.dir) && strings.HasSuffix(r.dir, ".tar.gz") {
			return readCIFARArchive(ctx, r.dir, src.records())
		}
		tried = append(tried, fmt.Sprintf("%s (%s): looked for data_batch_1.bin, %s/, %s", r.dir, r.from, cifarFolderName, cifarArchiveName))
		if isFile(filepath.Join(r.dir, "data_batch_1.bin")) {
			return readCIFARDir(ctx, r.dir, src.records())
		}
		if d := filepath.Join(r.dir, cifarFolderName); isFile(filepath.Join(d, "data_batch_1.bin")) {
			return readCIFARDir(ctx, d, src.records())
		}
		if a := filepath.Join(r.dir, cifarArchiveName); isFile(a) {
			return readCIFARArchive(ctx, a, src.records())
		}
	}
	nf := &notFoundError{
		dataset: "CIFAR-10",
		tried:   tried,
		hint: fmt.Sprintf("point at a copy with --data-dir DIR or %s=DIR, where DIR holds data_batch_1..5.bin and test_batch.bin, "+
			"a %s/ folder of them, or %s (e.g. ../shared/data/%s)", EnvDataDir, cifarFolderName, cifarArchiveName, cifarFolderName),
	}
	if rootsErr != nil {
		nf.cause = rootsErr
		return nil, nil, nf
	}
	if src.NoDownload {
		nf.cause = errors.New("download disabled")
		return nil, nil, nf
	}
	cache := roots[len(roots)-1].dir
	dst := filepath.Join(cache, cifarArchiveName)
	url := src.DownloadURL
	if url == "" {
		url = cifarURL
	}
	want := src.archiveMD5
	if want == "" {
		want = cifarArchiveMD5
	}
	if err := download(ctx, url, dst, want, src.Progress); err != nil {
		nf.cause = err
		return nil, nil, nf
	}
	return readCIFARArchive(ctx, dst, src.records())
}

func (src Source) records() int {
	if src.cifarRecords > 0 {
		return src.cifarRecords
	}
	return cifarRecords
}

// cifarSets allocates the train and test sets for the given records per file.
func cifarSets(records int) (train, test *Set) {
	mk := func(name string, n int) *Set {
		return &Set{
			Name: name, N: n, C: 3, H: 32, W: 32, Classes: 10,
			Images:     make([]uint8, n*3*32*32),
			Labels:     make([]uint8, n),
			Mean:       CIFAR10Mean(),
			Std:        CIFAR10Std(),
			ClassNames: append([]string(nil), cifarClassNames...),
		}
	}
	train = mk("cifar10/train", cifarTrainBatches*records)
	train.Augment = true
	test = mk("cifar10/test", records)
	return train, test
}

// target returns the set and first image index that batch file k fills.
func cifarTarget(train, test *Set, k, records int) (*Set, int) {
	if k < cifarTrainBatches {
		return train, k * records
	}
	return test, 0
}

// readCIFARDir reads the six batch files of a CIFAR-10 binary folder.
func readCIFARDir(ctx context.Context, dir string, records int) (train, test *Set, err error) {
	train, test = cifarSets(records)
	buf := make([]byte, records*cifarRecordSize)
	for k, name := range cifarFiles() {
		p := filepath.Join(dir, name)
		if err := checkCtx(ctx, "load cifar10 "+p); err != nil {
			return nil, nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("load cifar10: %w", err)
		}
		set, first := cifarTarget(train, test, k, records)
		sum, err := readCIFARBatch(f, buf, set, first)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("load cifar10 %s: %w", p, err)
		}
		set.Sources = append(set.Sources, FileSum{Name: name, SHA256: sum})
	}
	train.Checksum = manifestChecksum(train.Sources)
	test.Checksum = manifestChecksum(test.Sources)
	return train, test, nil
}

// readCIFARArchive reads the official cifar-10-binary.tar.gz directly: the
// six batch files under cifar-10-batches-bin/. The whole archive is read so
// that gzip's checksum is verified.
func readCIFARArchive(ctx context.Context, archive string, records int) (train, test *Set, err error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, nil, fmt.Errorf("load cifar10: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("load cifar10 %s: byte offset 0: expected a gzip stream: %w", archive, err)
	}
	train, test = cifarSets(records)
	files := cifarFiles()
	sums := make([]string, len(files))
	buf := make([]byte, records*cifarRecordSize)
	tr := tar.NewReader(gz)
	for {
		if err := checkCtx(ctx, "load cifar10 "+archive); err != nil {
			return nil, nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("load cifar10 %s: reading tar entries: %w", archive, err)
		}
		dir, base := path.Split(path.Clean(hdr.Name))
		if path.Clean(dir) != cifarFolderName || hdr.Typeflag != tar.TypeReg {
			continue
		}
		k := -1
		for i, n := range files {
			if n == base {
				k = i
			}
		}
		if k < 0 {
			continue
		}
		if sums[k] != "" {
			return nil, nil, fmt.Errorf("load cifar10 %s: entry %s appears twice", archive, hdr.Name)
		}
		if want := int64(records * cifarRecordSize); hdr.Size != want {
			return nil, nil, fmt.Errorf("load cifar10 %s: entry %s: tar header size %d, expected %d bytes (%d records of %d)",
				archive, hdr.Name, hdr.Size, want, records, cifarRecordSize)
		}
		set, first := cifarTarget(train, test, k, records)
		if sums[k], err = readCIFARBatch(tr, buf, set, first); err != nil {
			return nil, nil, fmt.Errorf("load cifar10 %s: entry %s: %w", archive, hdr.Name, err)
		}
	}
	// Drain anything after the tar end marker so gzip verifies its CRC.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, nil, fmt.Errorf("load cifar10 %s: gzip stream: %w", archive, err)
	}
	var missing []string
	for k, s := range sums {
		if s == "" {
			missing = append(missing, cifarFolderName+"/"+files[k])
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("load cifar10 %s: missing entries %s", archive, strings.Join(missing, ", "))
	}
	for k, name := range files {
		set, _ := cifarTarget(train, test, k, records)
		set.Sources = append(set.Sources, FileSum{Name: name, SHA256: sums[k]})
	}
	train.Checksum = manifestChecksum(train.Sources)
	test.Checksum = manifestChecksum(test.Sources)
	return train, test, nil
}

// readCIFARBatch reads one batch file of len(buf)/3073 records from r into
// set starting at image first, validating its length and labels, and
// returns its sha256. Errors give the byte offset and what was expected.
func readCIFARBatch(r io.Reader, buf []byte, set *Set, first int) (string, error) {
	h := sha256.New()
	n, err := io.ReadFull(io.TeeReader(r, h), buf)
	records := len(buf) / cifarRecordSize
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return "", fmt.Errorf("truncated at byte offset %d (inside record %d): expected %d bytes (%d records of %d bytes: label, 1024 R, 1024 G, 1024 B)",
			n, n/cifarRecordSize, len(buf), records, cifarRecordSize)
	}
	if err != nil {
		return "", fmt.Errorf("at byte offset %d: %w", n, err)
	}
	var one [1]byte
	if m, err := io.ReadFull(io.TeeReader(r, h), one[:]); m > 0 {
		return "", fmt.Errorf("extra data at byte offset %d: expected exactly %d bytes (%d records of %d bytes)", len(buf), len(buf), records, cifarRecordSize)
	} else if err != io.EOF {
		return "", fmt.Errorf("at byte offset %d: %w", len(buf), err)
	}
	const px = cifarRecordSize - 1
	for i := 0; i < records; i++ {
		rec := buf[i*cifarRecordSize : (i+1)*cifarRecordSize]
		if rec[0] >= 10 {
			return "", fmt.Errorf("byte offset %d (label of record %d): label %d, expected 0..9", i*cifarRecordSize, i, rec[0])
		}
		set.Labels[first+i] = rec[0]
		copy(set.Images[(first+i)*px:(first+i+1)*px], rec[1:])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
