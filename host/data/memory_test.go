package data

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withMemory makes CheckSizes see avail bytes of available memory (ok
// false: unknown) for the rest of the test.
func withMemory(t *testing.T, avail int64, ok bool) {
	t.Helper()
	old := availableMemory
	availableMemory = func() (int64, bool) { return avail, ok }
	t.Cleanup(func() { availableMemory = old })
}

func TestBytes(t *testing.T) {
	const cifarImage, fashionImage = 3*32*32 + 1, 28*28 + 1
	cases := []struct {
		src  Source
		want int64
		err  string
	}{
		{Source{Dataset: Synthetic}, (5000 + 1000) * cifarImage, ""},
		{Source{Dataset: Synthetic, TrainSize: 2_000_000_000, TestSize: 10}, (2_000_000_000 + 10) * cifarImage, ""},
		{Source{Dataset: CIFAR10}, 60000 * cifarImage, ""},
		{Source{Dataset: CIFAR10, TrainSize: 5000, TestSize: 10000}, (60000 + 5000) * cifarImage, ""},
		{Source{Dataset: CIFAR10, cifarRecords: 20, TrainSize: 50}, (120 + 50) * cifarImage, ""},
		{Source{Dataset: FashionMNIST, TestSize: 500}, (70000 + 500) * fashionImage, ""},
		{Source{Dataset: FashionMNIST, TrainSize: 100000}, (100000 + 10000) * fashionImage, ""}, // files may hold more
		{Source{Dataset: Synthetic, TrainSize: math.MaxInt}, math.MaxInt64, ""},                 // saturates
		{Source{Dataset: CIFAR10, TrainSize: 50001}, 0, "train_size 50001: expected at most 50000, the training images of cifar10"},
		{Source{Dataset: CIFAR10, TestSize: 10001}, 0, "test_size 10001: expected at most 10000, the test images of cifar10"},
		{Source{Dataset: Synthetic, TestSize: -1}, 0, "test_size -1: expected >= 0"},
		{Source{Dataset: "mnist"}, 0, `unknown dataset "mnist"`},
	}
	for _, c := range cases {
		got, err := c.src.Bytes()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: Bytes() = %d, %v; want error %q", c.src, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v: Bytes() = %d, %v; want %d", c.src, got, err, c.want)
		}
	}
}

func TestCheckSizes(t *testing.T) {
	const gb = 1_000_000_000
	cases := []struct {
		name             string
		avail            int64
		known            bool
		src              Source
		batch, evalBatch int
		field, want      string // field "" = no error
	}{
		{"fits", 23.1 * gb, true, Source{Dataset: CIFAR10, TrainSize: 5000}, 128, 256, "", ""},
		{"generated set too large", 23.1 * gb, true, Source{Dataset: Synthetic, TrainSize: 2_000_000_000}, 128, 256, "train_size",
			"2000000000: the generated training set of 2000000000 images needs 6.15 TB, more than the 23.1 GB of memory available"},
		{"generated test set too large", 23.1 * gb, true, Source{Dataset: Synthetic, TestSize: 1_000_000_000}, 0, 0, "test_size",
			"1000000000: the generated test set of 1000000000 images needs 3.07 TB, more than the 23.1 GB"},
		{"batch too large", 23.1 * gb, true, Source{Dataset: Synthetic}, 1_000_000_000, 256, "batch_size",
			"1000000000: the input batch alone (1000000000 × 3072 float32) needs 12.3 TB, more than the 23.1 GB of memory available"},
		{"evaluation batch too large", 23.1 * gb, true, Source{Dataset: FashionMNIST}, 128, 100_000_000, "eval_batch",
			"100000000: the evaluation batch alone (100000000 × 784 float32) needs 314 GB, more than the 23.1 GB"},
		{"together too large", 0.1 * gb, true, Source{Dataset: Synthetic, TrainSize: 20000}, 2000, 1000, "train_size",
			"20000: the generated training set of 20000 images needs 61.5 MB, and with the rest of the run's data (101 MB in all) more than the 100 MB of memory available"},
		{"memory unknown", 0, false, Source{Dataset: Synthetic, TrainSize: 2_000_000_000}, 1_000_000_000, 0, "", ""},
		{"subset larger than the set, memory unknown", 0, false, Source{Dataset: CIFAR10, TrainSize: 60000}, 128, 0, "train_size",
			"60000: expected at most 50000, the training images of cifar10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			withMemory(t, c.avail, c.known)
			err := c.src.CheckSizes(c.batch, c.evalBatch)
			if c.field == "" {
				if err != nil {
					t.Fatalf("CheckSizes: %v", err)
				}
				return
			}
			var se *SizeError
			if !errors.As(err, &se) {
				t.Fatalf("CheckSizes: %v, want a *SizeError", err)
			}
			if se.Field != c.field || !strings.Contains(se.Problem, c.want) {
				t.Errorf("CheckSizes: field %q problem %q\nwant field %q problem containing %q", se.Field, se.Problem, c.field, c.want)
			}
		})
	}
}

// TestLoadRefusesBeforeAllocating: Load answers at once, with a
// *SizeError, for a generated set that would not fit.
func TestLoadRefusesBeforeAllocating(t *testing.T) {
	withMemory(t, 8_000_000_000, true)
	start := time.Now()
	_, _, err := Load(context.Background(), Source{Dataset: Synthetic, TrainSize: 2_000_000_000})
	var se *SizeError
	if !errors.As(err, &se) || se.Field != "train_size" || !strings.Contains(err.Error(), "load synthetic: train_size 2000000000") {
		t.Fatalf("Load: %v, want a *SizeError for train_size", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Load took %v to refuse", d)
	}
	if _, _, err := Load(context.Background(), Source{Dataset: CIFAR10, TrainSize: 50001, DataDir: t.TempDir(), NoDownload: true}); !errors.As(err, &se) {
		t.Errorf("Load of a CIFAR-10 subset larger than the set: %v, want a *SizeError before looking for files", err)
	}
}

func TestAvailableMemoryFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mi := write("meminfo", "MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   24019368 kB\n")
	if n, ok := memAvailable(mi); !ok || n != 24019368*1024 {
		t.Errorf("memAvailable = %d, %v; want %d", n, ok, 24019368*1024)
	}
	if _, ok := memAvailable(write("old-meminfo", "MemTotal: 1 kB\n")); ok {
		t.Error("memAvailable of a meminfo without MemAvailable: ok")
	}
	root := filepath.Join(dir, "cgroup")
	write("cgroup/lab/memory.max", "4000000000\n")
	write("cgroup/lab/memory.current", "1000000000\n")
	write("cgroup/free/memory.max", "max\n")
	for _, c := range []struct {
		self    string
		left    int64
		limited bool
	}{
		{"0::/lab\n", 3_000_000_000, true},
		{"0::/free\n", 0, false},
		{"0::/gone\n", 0, false},
		{"1:memory:/lab\n", 0, false}, // cgroup v1: not read
	} {
		self := write("self-cgroup", c.self)
		if left, limited := cgroupLeft(self, root); left != c.left || limited != c.limited {
			t.Errorf("cgroup %q: %d, %v; want %d, %v", c.self, left, limited, c.left, c.limited)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 999: "999 B", 1000: "1.00 kB", 184_380_000: "184 MB", 12_288_000_000: "12.3 GB",
		23_100_000_000: "23.1 GB", 6_146_000_000_000: "6.15 TB", 999_999: "1.00 MB", math.MaxInt64: "9.22 EB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
