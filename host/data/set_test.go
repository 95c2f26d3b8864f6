package data

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := func() *Set { return randomSet(4, 1, true) }
	tests := []struct {
		name   string
		mutate func(*Set)
		want   string
	}{
		{"short images", func(s *Set) { s.Images = s.Images[:100] }, "100 image bytes, expected N*C*H*W = 12288"},
		{"labels", func(s *Set) { s.Labels = s.Labels[:3] }, "3 labels, expected N = 4"},
		{"label range", func(s *Set) { s.Labels[2] = 10 }, "label 10 of image 2, expected 0..9"},
		{"means", func(s *Set) { s.Mean = s.Mean[:2] }, "2 means and 3 stds, expected C = 3"},
		{"std zero", func(s *Set) { s.Std[1] = 0 }, "std[1] = 0, expected > 0"},
		{"classes", func(s *Set) { s.Classes = 0 }, "0 classes"},
		{"class names", func(s *Set) { s.ClassNames = []string{"a"} }, "1 class names, expected 10"},
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		s := good()
		tc.mutate(s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestWithReplaced(t *testing.T) {
	s := randomSet(10, 1, true)
	from := randomSet(5, 2, true)
	orig := append([]uint8(nil), s.Images...)
	origLabels := append([]uint8(nil), s.Labels...)
	r, err := s.WithReplaced(3, from, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Images, orig) || !bytes.Equal(s.Labels, origLabels) {
		t.Fatal("WithReplaced changed the original")
	}
	sz := s.ImageSize()
	for i := 0; i < s.N; i++ {
		want, wantLabel := orig[i*sz:(i+1)*sz], origLabels[i]
		if i == 3 {
			want, wantLabel = from.Images[4*sz:5*sz], from.Labels[4]
		}
		if !bytes.Equal(r.Images[i*sz:(i+1)*sz], want) || r.Labels[i] != wantLabel {
			t.Errorf("image %d of the copy is wrong", i)
		}
	}
	if r.Checksum == s.Checksum || r.N != s.N {
		t.Errorf("copy checksum %q (original %q), N %d", r.Checksum, s.Checksum, r.N)
	}
	// The copy owns its memory.
	r.Images[0]++
	if s.Images[0] != orig[0] {
		t.Error("copy shares Images with the original")
	}
	if _, err := s.WithReplaced(10, from, 0); err == nil {
		t.Error("accepted i out of range")
	}
	if _, err := s.WithReplaced(0, from, 5); err == nil {
		t.Error("accepted j out of range")
	}
	fm := &Set{Name: "fm", N: 1, C: 1, H: 28, W: 28, Classes: 10, Images: make([]uint8, 784), Labels: []uint8{0}}
	if _, err := s.WithReplaced(0, fm, 0); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("mismatched shape: err = %v", err)
	}
}

func TestStratifiedSubset(t *testing.T) {
	// An unbalanced set: class c has 10+3c images, 235 in all, labels interleaved.
	var labels []uint8
	for k := 0; len(labels) < 235; k++ {
		for c := 0; c < 10; c++ {
			if k < 10+3*c {
				labels = append(labels, uint8(c))
			}
		}
	}
	s := randomSet(len(labels), 3, true)
	copy(s.Labels, labels)
	sub, err := stratifiedSubset(s, 50, 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Quotas 50*(10+3c)/235 = 2.13 2.77 3.40 4.04 4.68 5.32 5.96 6.60 7.23 7.87:
	// floors sum to 45, and the 5 largest remainders (classes 6, 9, 1, 4, 7)
	// get one more.
	want := []int{2, 3, 3, 4, 5, 5, 6, 7, 7, 8}
	if got := sub.ClassCounts(); !slices.Equal(got, want) {
		t.Errorf("class counts %v, want %v", got, want)
	}
	// Each kept image is a distinct source record, in source order.
	sz := s.ImageSize()
	last := -1
	for k := 0; k < sub.N; k++ {
		found := -1
		for i := last + 1; i < s.N; i++ {
			if bytes.Equal(s.Images[i*sz:(i+1)*sz], sub.Images[k*sz:(k+1)*sz]) && s.Labels[i] == sub.Labels[k] {
				found = i
				break
			}
		}
		if found < 0 {
			t.Fatalf("subset image %d is not a later source record than %d", k, last)
		}
		last = found
	}
	again, _ := stratifiedSubset(s, 50, 7, 0)
	other, _ := stratifiedSubset(s, 50, 8, 0)
	if !bytes.Equal(again.Images, sub.Images) {
		t.Error("same seed, different subset")
	}
	if bytes.Equal(other.Images, sub.Images) {
		t.Error("different seed, same subset")
	}
	if whole, _ := stratifiedSubset(s, s.N, 7, 0); whole != s {
		t.Error("a subset of the full size is not the set itself")
	}
	if _, err := stratifiedSubset(s, s.N+1, 7, 0); err == nil {
		t.Error("accepted a subset larger than the set")
	}
}
