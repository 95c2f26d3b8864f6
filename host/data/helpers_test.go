package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// cifarBatchBytes returns a CIFAR-10 batch file of n records whose labels
// are (i+k) mod 10 and whose pixels are a fixed function of (k, i, byte).
func cifarBatchBytes(k, n int) []byte {
	b := make([]byte, n*cifarRecordSize)
	for i := 0; i < n; i++ {
		rec := b[i*cifarRecordSize : (i+1)*cifarRecordSize]
		rec[0] = byte((i + k) % 10)
		for p := 1; p < len(rec); p++ {
			rec[p] = byte(p*7 + i*13 + k*31)
		}
	}
	return b
}

// writeCIFARDir writes the six batch files of n records each into dir.
func writeCIFARDir(t *testing.T, dir string, n int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for k, name := range cifarFiles() {
		b := cifarBatchBytes(k, n)
		files[name] = b
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// cifarTarGz builds an archive in the official layout: the batch files
// (plus batches.meta.txt and readme.html, as the official one has) under
// cifar-10-batches-bin/.
func cifarTarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name string, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: cifarFolderName + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
	add(cifarFolderName+"/batches.meta.txt", []byte("airplane\nautomobile\n"))
	for _, name := range cifarFiles() {
		if b, ok := files[name]; ok {
			add(cifarFolderName+"/"+name, b)
		}
	}
	add(cifarFolderName+"/readme.html", []byte("<html></html>"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// sharedDir returns ../shared/data/<name> beside the repository, or skips.
func sharedDir(t *testing.T, name string) string {
	t.Helper()
	d := filepath.Join(repoRoot(t), "..", "shared", "data", name)
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared copy %s absent (%v): place a copy of shared/ beside the repository to run this test", d, err)
	}
	return d
}

// offlineSource returns a Source that never looks outside the test's
// folders and never downloads: $LRSGD_DATA is cleared and the cache is
// an empty temporary folder.
func offlineSource(t *testing.T, dataset, dir string) Source {
	t.Helper()
	t.Setenv(EnvDataDir, "")
	return Source{Dataset: dataset, DataDir: dir, CacheDir: t.TempDir(), NoDownload: true}
}
