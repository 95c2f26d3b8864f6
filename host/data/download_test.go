package data

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// archiveServer serves body at /cifar-10-binary.tar.gz and counts requests.
func archiveServer(t *testing.T, body []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/"+cifarArchiveName {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func smallArchive(t *testing.T) []byte {
	files := map[string][]byte{}
	for k, name := range cifarFiles() {
		files[name] = cifarBatchBytes(k, smallRecords)
	}
	return cifarTarGz(t, files)
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestDownload(t *testing.T) {
	archive := smallArchive(t)
	srv, hits := archiveServer(t, archive)
	src := offlineSource(t, CIFAR10, t.TempDir())
	src.NoDownload = false
	src.cifarRecords = smallRecords
	src.DownloadURL = srv.URL + "/" + cifarArchiveName
	src.archiveMD5 = md5Hex(archive)
	var progress bytes.Buffer
	src.Progress = &progress
	train, test, err := Load(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 5*smallRecords || test.N != smallRecords {
		t.Fatalf("N = %d/%d", train.N, test.N)
	}
	got, err := os.ReadFile(filepath.Join(src.CacheDir, cifarArchiveName))
	if err != nil || !bytes.Equal(got, archive) {
		t.Fatalf("cached archive: err %v, equal %v", err, bytes.Equal(got, archive))
	}
	if names := dirEntries(t, src.CacheDir); len(names) != 1 {
		t.Errorf("cache holds %v, want only %s", names, cifarArchiveName)
	}
	if !strings.Contains(progress.String(), "download "+cifarArchiveName) || !strings.Contains(progress.String(), "100%") {
		t.Errorf("progress output %q lacks the bar", progress.String())
	}
	// The second load reads the cache and does not download again.
	progress.Reset()
	if _, _, err := Load(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 || progress.Len() != 0 {
		t.Errorf("second load: %d requests in all, progress %q; want 1 and none", hits.Load(), progress.String())
	}
}

func TestDownloadQuietWithoutProgress(t *testing.T) {
	archive := smallArchive(t)
	srv, _ := archiveServer(t, archive)
	dst := filepath.Join(t.TempDir(), "sub", cifarArchiveName)
	if err := download(context.Background(), srv.URL+"/"+cifarArchiveName, dst, md5Hex(archive), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, archive) {
		t.Fatal("downloaded file differs")
	}
}

func TestDownloadRejected(t *testing.T) {
	archive := smallArchive(t)
	srv, _ := archiveServer(t, archive)
	// A server that announces more bytes than it sends.
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write(archive[:1000])
	}))
	t.Cleanup(short.Close)
	tests := []struct {
		name, url, md5 string
		want           []string
	}{
		{"official MD5 on other bytes", srv.URL + "/" + cifarArchiveName, "", []string{"MD5 " + md5Hex(archive), "expected " + cifarArchiveMD5}},
		{"HTTP 404", srv.URL + "/missing", md5Hex(archive), []string{"404"}},
		{"short body", short.URL, md5Hex(archive), []string{short.URL, "unexpected EOF"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := offlineSource(t, CIFAR10, "")
			src.NoDownload = false
			src.cifarRecords = smallRecords
			src.DownloadURL = tc.url
			src.archiveMD5 = tc.md5
			train, test, err := Load(context.Background(), src)
			if err == nil || train != nil || test != nil {
				t.Fatalf("Load = %v, %v, %v; want an error", train, test, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if names := dirEntries(t, src.CacheDir); len(names) != 0 {
				t.Errorf("cache holds %v after a failed download, want nothing", names)
			}
		})
	}
}

func TestOfflineErrorNamesFolders(t *testing.T) {
	// A URL nobody listens on: the download fails at once, as offline.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + l.Addr().String() + "/" + cifarArchiveName
	l.Close()

	flagDir, envDir, cacheDir := t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv(EnvDataDir, envDir)
	src := Source{Dataset: CIFAR10, DataDir: flagDir, CacheDir: cacheDir, DownloadURL: deadURL}
	_, _, err = Load(context.Background(), src)
	if err == nil {
		t.Fatal("Load succeeded with no data anywhere")
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is(err, ErrNotFound) = false for %v", err)
	}
	for _, w := range []string{flagDir, envDir, cacheDir, "--data-dir", "LRSGD_DATA", deadURL} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	t.Log(err)

	// With downloads off the error says so instead.
	src.NoDownload = true
	if _, _, err := Load(context.Background(), src); err == nil || !strings.Contains(err.Error(), "download disabled") {
		t.Errorf("NoDownload: err = %v", err)
	}
}

func TestDownloadCancelled(t *testing.T) {
	archive := smallArchive(t)
	srv, _ := archiveServer(t, archive)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(t.TempDir(), cifarArchiveName)
	err := download(ctx, srv.URL+"/"+cifarArchiveName, dst, md5Hex(archive), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if isFile(dst) {
		t.Error("file written despite cancellation")
	}
}
