package data

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Dims are the shape of a data set's images and the sizes of its full
// splits: what is known about it before any file is read.
type Dims struct {
	C, H, W, Classes int
	// Train and Test count the images of the full splits: CIFAR-10's
	// 50,000 and 10,000, Fashion-MNIST's 60,000 and 10,000 (the official
	// files; IDX files holding other counts load too). They are 0 for the
	// synthetic set, which is generated at the size asked.
	Train, Test int
}

// ImageSize returns the bytes of one image, C·H·W.
func (d Dims) ImageSize() int { return d.C * d.H * d.W }

// BatchBytes returns the bytes of a batch of n images as the trainer feeds
// them to a net: n·C·H·W float32 values, the buffer Stream.Next and
// Set.Batch fill.
func (d Dims) BatchBytes(n int) int64 { return mulSat(n, d.ImageSize()*4) }

// Dims returns the dimensions of src's data set, or an error for an
// unknown data set name.
func (src Source) Dims() (Dims, error) {
	switch src.Dataset {
	case CIFAR10:
		records := cifarRecords
		if src.cifarRecords > 0 {
			records = src.cifarRecords
		}
		return Dims{C: 3, H: 32, W: 32, Classes: 10, Train: cifarTrainBatches * records, Test: records}, nil
	case FashionMNIST:
		return Dims{C: 1, H: 28, W: 28, Classes: 10, Train: 60000, Test: 10000}, nil
	case Synthetic:
		return Dims{C: synthC, H: synthH, W: synthW, Classes: synthClasses}, nil
	}
	return Dims{}, fmt.Errorf("unknown dataset %q, expected %s", src.Dataset, strings.Join(Names(), ", "))
}

// SizeError is a size of a run that CheckSizes refused before anything was
// allocated. Field names the setting in the snake_case of study files
// (train_size, test_size, batch_size, eval_batch), so that each front end
// can name its own flag or key; Problem gives the value and why it is
// refused.
type SizeError struct {
	Field   string
	Problem string
}

func (e *SizeError) Error() string { return e.Field + " " + e.Problem }

// split is one part of the memory a run over src takes, with the setting
// that sizes it.
type split struct {
	field string
	value int
	what  string // what the bytes hold, for messages
	bytes int64
}

// splits returns the memory Load holds for src at its peak, train then
// test: the full splits read from files and the subsets copied out of
// them, or the generated sets (images and labels). A subset larger than a
// data set of known size is an error.
func (src Source) splits() ([]split, error) {
	d, err := src.Dims()
	if err != nil {
		return nil, err
	}
	per := d.ImageSize() + 1 // pixels and the label
	var out []split
	for _, sp := range []struct {
		field, name string
		n, full     int
		generated   int // the synthetic set's default size
	}{
		{"train_size", "training", src.TrainSize, d.Train, synthTrain},
		{"test_size", "test", src.TestSize, d.Test, synthTest},
	} {
		if sp.n < 0 {
			return nil, &SizeError{sp.field, fmt.Sprintf("%d: expected >= 0 (0 = all)", sp.n)}
		}
		if src.Dataset == Synthetic {
			n := sp.n
			if n == 0 {
				n = sp.generated
			}
			out = append(out, split{sp.field, sp.n, fmt.Sprintf("the generated %s set of %d images", sp.name, n), mulSat(n, per)})
			continue
		}
		// CIFAR-10's files hold exactly d.Train and d.Test records;
		// Fashion-MNIST's hold what their headers say.
		if src.Dataset == CIFAR10 && sp.n > sp.full {
			return nil, &SizeError{sp.field, fmt.Sprintf("%d: expected at most %d, the %s images of %s", sp.n, sp.full, sp.name, src.Dataset)}
		}
		full := max(sp.full, sp.n)
		b := mulSat(full, per)
		what := fmt.Sprintf("the %s set of %s (%d images)", sp.name, src.Dataset, full)
		if sp.n > 0 && sp.n < full {
			b = addSat(b, mulSat(sp.n, per))
			what = fmt.Sprintf("the %s set of %s (%d images) and its subset of %d", sp.name, src.Dataset, full, sp.n)
		}
		out = append(out, split{sp.field, sp.n, what, b})
	}
	return out, nil
}

// Bytes returns the memory, in bytes, that Load holds for src at its
// peak: the full splits read from files and the subsets copied out of
// them, or the generated sets (images and labels). It is an error when a
// size is negative, the data set is unknown, or a CIFAR-10 subset is
// larger than the set.
func (src Source) Bytes() (int64, error) {
	parts, err := src.splits()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, p := range parts {
		total = addSat(total, p.bytes)
	}
	return total, nil
}

// availableMemory is AvailableMemory; tests replace it.
var availableMemory = AvailableMemory

// CheckSizes checks src and the batch sizes of a run over it before
// anything is allocated: the subsets exist, and the data sets (Bytes), one
// input batch of batch images and one evaluation batch of evalBatch images
// (BatchBytes; 0 = none) fit, each alone and all together, in the memory
// the machine has available (AvailableMemory; no memory check where that
// is unknown). The estimate is a lower bound: the nets' activations, which
// also grow with the batch, are not counted. The error is a *SizeError
// naming the setting to change.
func (src Source) CheckSizes(batch, evalBatch int) error {
	parts, err := src.splits()
	if err != nil {
		return err
	}
	d, _ := src.Dims() // known: splits succeeded
	if batch > 0 {
		parts = append(parts, split{"batch_size", batch,
			fmt.Sprintf("the input batch alone (%d × %d float32)", batch, d.ImageSize()), d.BatchBytes(batch)})
	}
	if evalBatch > 0 {
		parts = append(parts, split{"eval_batch", evalBatch,
			fmt.Sprintf("the evaluation batch alone (%d × %d float32)", evalBatch, d.ImageSize()), d.BatchBytes(evalBatch)})
	}
	avail, ok := availableMemory()
	if !ok {
		return nil
	}
	var total int64
	largest := parts[0]
	for _, p := range parts {
		if p.bytes > avail {
			return &SizeError{p.field, fmt.Sprintf("%d: %s needs %s, more than the %s of memory available",
				p.value, p.what, formatBytes(p.bytes), formatBytes(avail))}
		}
		total = addSat(total, p.bytes)
		if p.bytes > largest.bytes {
			largest = p
		}
	}
	if total > avail {
		return &SizeError{largest.field, fmt.Sprintf("%d: %s needs %s, and with the rest of the run's data (%s in all) more than the %s of memory available",
			largest.value, largest.what, formatBytes(largest.bytes), formatBytes(total), formatBytes(avail))}
	}
	return nil
}

// AvailableMemory returns the bytes of memory this process can still
// allocate without swapping: MemAvailable of /proc/meminfo, or less when
// the process's cgroup (v2) limit leaves less. ok is false where neither
// is known (not Linux, no /proc).
func AvailableMemory() (n int64, ok bool) {
	n, ok = memAvailable("/proc/meminfo")
	if left, limited := cgroupLeft("/proc/self/cgroup", "/sys/fs/cgroup"); limited && (!ok || left < n) {
		n, ok = left, true
	}
	return n, ok
}

// memAvailable reads MemAvailable from a meminfo file.
func memAvailable(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil || kb < 0 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

// cgroupLeft returns memory.max − memory.current of the cgroup (v2) that
// the cgroup file (/proc/self/cgroup) names under root; limited is false
// without a limit.
func cgroupLeft(cgroupFile, root string) (left int64, limited bool) {
	b, err := os.ReadFile(cgroupFile)
	if err != nil {
		return 0, false
	}
	var dir string
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			dir = filepath.Join(root, p)
		}
	}
	if dir == "" {
		return 0, false
	}
	read := func(name string) (int64, bool) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return 0, false
		}
		v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		return v, err == nil
	}
	limit, ok := read("memory.max") // "max" when unlimited: not a number
	if !ok {
		return 0, false
	}
	used, _ := read("memory.current")
	return max(limit-used, 0), true
}

// formatBytes writes a byte count in decimal units with three significant
// digits: "512 B", "184 MB", "12.3 GB", "6.15 TB".
func formatBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	v, u := float64(n), 0
	for v >= 999.5 && u < len(units)-1 {
		v /= 1000
		u++
	}
	switch {
	case u == 0 || v >= 99.95:
		return fmt.Sprintf("%.0f %s", v, units[u])
	case v >= 9.995:
		return fmt.Sprintf("%.1f %s", v, units[u])
	}
	return fmt.Sprintf("%.2f %s", v, units[u])
}

// mulSat returns n·per (both ≥ 0) as an int64, saturating at the largest
// int64 instead of overflowing.
func mulSat(n, per int) int64 {
	if n <= 0 || per <= 0 {
		return 0
	}
	if int64(n) > math.MaxInt64/int64(per) {
		return math.MaxInt64
	}
	return int64(n) * int64(per)
}

// addSat returns a+b (both ≥ 0), saturating at the largest int64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
