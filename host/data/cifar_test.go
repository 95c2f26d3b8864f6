package data

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const smallRecords = 20

func TestCIFARFolderSmall(t *testing.T) {
	dir := t.TempDir()
	files := writeCIFARDir(t, dir, smallRecords)
	src := offlineSource(t, CIFAR10, dir)
	src.cifarRecords = smallRecords
	train, test, err := Load(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 5*smallRecords || test.N != smallRecords {
		t.Fatalf("N = %d/%d, want %d/%d", train.N, test.N, 5*smallRecords, smallRecords)
	}
	// Every image and label against the bytes written.
	for k, name := range cifarFiles() {
		b := files[name]
		set, first := train, k*smallRecords
		if k == 5 {
			set, first = test, 0
		}
		for i := 0; i < smallRecords; i++ {
			rec := b[i*cifarRecordSize : (i+1)*cifarRecordSize]
			if got := set.Labels[first+i]; got != rec[0] {
				t.Fatalf("%s record %d: label %d, want %d", name, i, got, rec[0])
			}
			img := set.Images[(first+i)*3072 : (first+i+1)*3072]
			if string(img) != string(rec[1:]) {
				t.Fatalf("%s record %d: pixels differ", name, i)
			}
		}
	}
	// Source sums and manifest checksum.
	var want strings.Builder
	for k, name := range cifarFiles()[:5] {
		if train.Sources[k].Name != name || train.Sources[k].SHA256 != sha256Hex(files[name]) {
			t.Errorf("train source %d = %+v, want %s %s", k, train.Sources[k], name, sha256Hex(files[name]))
		}
		want.WriteString(sha256Hex(files[name]) + "  " + name + "\n")
	}
	if train.Checksum != sha256Hex([]byte(want.String())) {
		t.Errorf("train checksum %s, want sha256 of the manifest %s", train.Checksum, sha256Hex([]byte(want.String())))
	}
	if train.C != 3 || train.H != 32 || train.W != 32 || train.Classes != 10 || !train.Augment || test.Augment {
		t.Errorf("shape/flags: %+v", train)
	}
	if train.Mean[0] != 0.4914 || train.Std[2] != 0.2010 {
		t.Errorf("constants %v %v", train.Mean, train.Std)
	}
}

func TestCIFARArchiveSmallEqualsFolder(t *testing.T) {
	dir := t.TempDir()
	files := writeCIFARDir(t, dir, smallRecords)
	adir := t.TempDir()
	archive := filepath.Join(adir, cifarArchiveName)
	if err := os.WriteFile(archive, cifarTarGz(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir string }{
		{"folder holding the archive", adir},
		{"archive path itself", archive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := offlineSource(t, CIFAR10, dir)
			src.cifarRecords = smallRecords
			ftrain, ftest, err := Load(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			src.DataDir = tc.dir
			atrain, atest, err := Load(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			if string(atrain.Images) != string(ftrain.Images) || string(atrain.Labels) != string(ftrain.Labels) ||
				string(atest.Images) != string(ftest.Images) || string(atest.Labels) != string(ftest.Labels) {
				t.Fatal("archive and folder give different data")
			}
			if atrain.Checksum != ftrain.Checksum || atest.Checksum != ftest.Checksum {
				t.Fatalf("checksums differ: archive %s/%s, folder %s/%s", atrain.Checksum, atest.Checksum, ftrain.Checksum, ftest.Checksum)
			}
		})
	}
}

func TestCIFARLookupOrder(t *testing.T) {
	// $LRSGD_DATA holding a cifar-10-batches-bin/ folder is found when
	// DataDir is empty; DataDir wins over it. The two copies differ in
	// test_batch.bin.
	envDir, flagDir := t.TempDir(), t.TempDir()
	envData := filepath.Join(envDir, cifarFolderName)
	if err := os.Mkdir(envData, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCIFARDir(t, envData, smallRecords)
	writeCIFARDir(t, flagDir, smallRecords)
	flagTestBatch := cifarBatchBytes(9, smallRecords)
	if err := os.WriteFile(filepath.Join(flagDir, "test_batch.bin"), flagTestBatch, 0o644); err != nil {
		t.Fatal(err)
	}
	src := offlineSource(t, CIFAR10, "")
	src.cifarRecords = smallRecords
	t.Setenv(EnvDataDir, envDir)
	for _, tc := range []struct {
		dataDir, want string
	}{
		{"", sha256Hex(cifarBatchBytes(5, smallRecords))},
		{flagDir, sha256Hex(flagTestBatch)},
		{t.TempDir(), sha256Hex(cifarBatchBytes(5, smallRecords))}, // empty --data-dir: on to $LRSGD_DATA
	} {
		src.DataDir = tc.dataDir
		_, test, err := Load(context.Background(), src)
		if err != nil {
			t.Fatal(err)
		}
		if got := test.Sources[0].SHA256; got != tc.want {
			t.Errorf("DataDir %q: read test batch %s, want %s", tc.dataDir, got, tc.want)
		}
	}
}

func TestCIFARCorrupt(t *testing.T) {
	good := cifarBatchBytes(2, smallRecords) // becomes data_batch_3.bin
	badLabel := append([]byte(nil), good...)
	badLabel[7*cifarRecordSize] = 10
	tests := []struct {
		name    string
		content []byte
		want    []string
	}{
		{"truncated mid-record", good[:len(good)-100], []string{"data_batch_3.bin", "truncated at byte offset 61360", "record 19", "expected 61460 bytes"}},
		{"truncated at a record boundary", good[:len(good)-cifarRecordSize], []string{"data_batch_3.bin", "byte offset 58387", "expected 61460 bytes"}},
		{"empty", nil, []string{"data_batch_3.bin", "byte offset 0", "expected 61460 bytes"}},
		{"trailing bytes", append(append([]byte(nil), good...), 0, 0), []string{"data_batch_3.bin", "extra data at byte offset 61460", "expected exactly 61460 bytes"}},
		{"label out of range", badLabel, []string{"data_batch_3.bin", "byte offset 21511", "record 7", "label 10, expected 0..9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeCIFARDir(t, dir, smallRecords)
			if err := os.WriteFile(filepath.Join(dir, "data_batch_3.bin"), tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			src := offlineSource(t, CIFAR10, dir)
			src.cifarRecords = smallRecords
			train, test, err := Load(context.Background(), src)
			if err == nil || train != nil || test != nil {
				t.Fatalf("Load = %v, %v, %v; want an error and no sets", train, test, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		writeCIFARDir(t, dir, smallRecords)
		os.Remove(filepath.Join(dir, "test_batch.bin"))
		src := offlineSource(t, CIFAR10, dir)
		src.cifarRecords = smallRecords
		if _, _, err := Load(context.Background(), src); err == nil || !strings.Contains(err.Error(), "test_batch.bin") {
			t.Fatalf("err = %v, want one naming test_batch.bin", err)
		}
	})
}

func TestCIFARArchiveCorrupt(t *testing.T) {
	files := map[string][]byte{}
	for k, name := range cifarFiles() {
		files[name] = cifarBatchBytes(k, smallRecords)
	}
	good := cifarTarGz(t, files)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0xff
	short := map[string][]byte{}
	for k, v := range files {
		short[k] = v
	}
	short["data_batch_2.bin"] = files["data_batch_2.bin"][:1000]
	noTest := map[string][]byte{}
	for k, v := range files {
		if k != "test_batch.bin" {
			noTest[k] = v
		}
	}
	tests := []struct {
		name    string
		content []byte
		want    []string
	}{
		{"archive cut in half", good[:len(good)/2], []string{cifarArchiveName, "truncated at byte offset", "expected 61460 bytes"}},
		{"not gzip", []byte("plain text"), []string{cifarArchiveName, "byte offset 0", "expected a gzip stream"}},
		{"corrupted byte", flipped, []string{cifarArchiveName}},
		{"short entry", cifarTarGz(t, short), []string{cifarArchiveName, "data_batch_2.bin", "tar header size 1000, expected 61460"}},
		{"missing entry", cifarTarGz(t, noTest), []string{cifarArchiveName, "missing entries cifar-10-batches-bin/test_batch.bin"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, cifarArchiveName), tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			src := offlineSource(t, CIFAR10, dir)
			src.cifarRecords = smallRecords
			train, test, err := Load(context.Background(), src)
			if err == nil || train != nil || test != nil {
				t.Fatalf("Load = %v, %v, %v; want an error and no sets", train, test, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// Pinned from ../shared/data/cifar-10-batches-bin/SHA256SUMS.
var sharedCIFARSums = map[string]string{
	"data_batch_1.bin": "7af2bdbe715c78c62391266197f29d8909cf8138302775ac4afc8e05a42664b3",
	"data_batch_2.bin": "129c0e7a3c0815037572bd76df1651241d16db55f11db315d994a42933bf1bf3",
	"data_batch_3.bin": "d2d158734626e16ef63043ddef3ffcad274a4149fa754496d543403911569c63",
	"data_batch_4.bin": "48c92743c76098673113e104584e8d54241905f01a6729e6be6248908da3a6f4",
	"data_batch_5.bin": "1273d7a91cb662200c5591c85ae1990c81f159b7446c59ab51a975f8f73a1607",
	"test_batch.bin":   "8763d810f809663e443bd9209c73420236a1477d73087449ec0f33bbf1e19b85",
}

var (
	sharedOnce              sync.Once
	sharedTrain, sharedTest *Set
	sharedErr               error
)

// loadShared loads the shared CIFAR-10 copy once for all tests.
func loadShared(t *testing.T) (train, test *Set) {
	t.Helper()
	dir := sharedDir(t, cifarFolderName)
	sharedOnce.Do(func() {
		sharedTrain, sharedTest, sharedErr = Load(context.Background(), Source{Dataset: CIFAR10, DataDir: dir, NoDownload: true})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedTrain, sharedTest
}

func TestCIFARShared(t *testing.T) {
	dir := sharedDir(t, cifarFolderName)
	train, test := loadShared(t)
	if train.N != 50000 || test.N != 10000 {
		t.Fatalf("N = %d/%d, want 50000/10000", train.N, test.N)
	}
	for c, n := range train.ClassCounts() {
		if n != 5000 {
			t.Errorf("train class %d: %d images, want 5000", c, n)
		}
	}
	for c, n := range test.ClassCounts() {
		if n != 1000 {
			t.Errorf("test class %d: %d images, want 1000", c, n)
		}
	}
	// The README: test record i is class i mod 10.
	for i := 0; i < test.N; i++ {
		if int(test.Labels[i]) != i%10 {
			t.Fatalf("test record %d: class %d, want %d", i, test.Labels[i], i%10)
		}
	}
	// Pinned sums, and the SHA256SUMS file agrees with them.
	for _, s := range append(append([]FileSum(nil), train.Sources...), test.Sources...) {
		if sharedCIFARSums[s.Name] != s.SHA256 {
			t.Errorf("%s: sha256 %s, pinned %s", s.Name, s.SHA256, sharedCIFARSums[s.Name])
		}
	}
	if len(train.Sources) != 5 || len(test.Sources) != 1 {
		t.Errorf("sources %v / %v", train.Sources, test.Sources)
	}
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen := 0
	for sc.Scan() {
		sum, name, _ := strings.Cut(sc.Text(), "  ")
		if pinned, ok := sharedCIFARSums[name]; ok {
			seen++
			if pinned != sum {
				t.Errorf("SHA256SUMS says %s for %s, pinned %s", sum, name, pinned)
			}
		}
	}
	if seen != 6 {
		t.Errorf("SHA256SUMS lists %d of the 6 batch files", seen)
	}
	// Channel means of the training set (the README: 0.4912, 0.4821, 0.4465):
	// catches a wrong plane order.
	want := []float64{0.4912, 0.4821, 0.4465}
	for c := 0; c < 3; c++ {
		var sum float64
		for i := 0; i < train.N; i++ {
			for _, v := range train.Images[i*3072+c*1024 : i*3072+(c+1)*1024] {
				sum += float64(v)
			}
		}
		m := sum / float64(train.N*1024) / 255
		if d := m - want[c]; d > 5e-4 || d < -5e-4 {
			t.Errorf("channel %d mean %.4f, README says %.4f", c, m, want[c])
		}
	}
}

func TestCIFARSharedSubset(t *testing.T) {
	dir := sharedDir(t, cifarFolderName)
	full, fullTest := loadShared(t)
	src := Source{Dataset: CIFAR10, DataDir: dir, NoDownload: true, TrainSize: 2000, TestSize: 500, Seed: 7}
	train, test, err := stratifiedSubsets(full, fullTest, src)
	if err != nil {
		t.Fatal(err)
	}
	for c, n := range train.ClassCounts() {
		if n != 200 {
			t.Errorf("train subset class %d: %d, want 200", c, n)
		}
	}
	for c, n := range test.ClassCounts() {
		if n != 50 {
			t.Errorf("test subset class %d: %d, want 50", c, n)
		}
	}
	if train.Checksum != full.Checksum {
		t.Errorf("subset checksum %s, want the source's %s", train.Checksum, full.Checksum)
	}
}

func TestCIFARCancelled(t *testing.T) {
	dir := t.TempDir()
	writeCIFARDir(t, dir, smallRecords)
	src := offlineSource(t, CIFAR10, dir)
	src.cifarRecords = smallRecords
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Load(ctx, src); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
