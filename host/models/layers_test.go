package models

import (
	"slices"
	"strings"
	"testing"
)

// TestLayers checks Layers against multiply-accumulate counts made by hand
// (for VGG16 and ResNet18 the usual totals, 0.31 and 0.56 GMAC), and that
// the layers pair one to one, in order, with the layout's convolution and
// dense weights.
func TestLayers(t *testing.T) {
	perLayer := map[string][]int{ // on 3×32×32
		"lenet": {6 * 28 * 28 * 3 * 5 * 5, 16 * 10 * 10 * 6 * 5 * 5, 400 * 120, 120 * 84, 84 * 10},
		"mlp":   {3072 * 512, 512 * 256, 256 * 10},
	}
	totals := map[string]int{
		"lenet": 651720,
		"mlp":   1706496,
		// 13 convolutions and 3 dense layers.
		"vgg16": 313725952,
		// stem 1,769,472 + layer1 150,994,944 + 3 × 134,217,728 (stages
		// 2–4, shortcuts included) + linear 5,120.
		"resnet18": 555422720,
	}
	macs := func(m *Model) (per []int, total int) {
		for _, l := range m.Layers() {
			per = append(per, l.MACs)
			total += l.MACs
		}
		return per, total
	}
	for _, name := range Names() {
		m, err := New(name, Input{C: 3, H: 32, W: 32, Classes: 10}, Options{Fast: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		per, total := macs(m)
		if total != totals[name] {
			t.Errorf("%s: %d MACs per image, want %d", name, total, totals[name])
		}
		if want, ok := perLayer[name]; ok && !slices.Equal(per, want) {
			t.Errorf("%s: MACs per layer %v, want %v", name, per, want)
		}
		var weights []Tensor
		for _, p := range m.Layout() {
			if strings.HasSuffix(p.Name, ".weight") && len(p.Shape) > 1 {
				weights = append(weights, p)
			}
		}
		if len(m.Layers()) != len(weights) || m.Layout()[0].Name != weights[0].Name {
			t.Fatalf("%s: %d layers, %d convolution and dense weights, first parameter %s", name, len(m.Layers()), len(weights), m.Layout()[0].Name)
		}
		for i, l := range m.Layers() {
			if w := weights[i]; l.Name+".weight" != w.Name || l.MACs < w.Size {
				t.Errorf("%s: layer %d is %s with %d MACs, weight %d is %s of %d values", name, i, l.Name, l.MACs, i, w.Name, w.Size)
			}
		}
	}
	// LeNet on 1×28×28: conv1 24×24 outputs, conv2 8×8, fc1 from 16·4·4.
	m, err := New("lenet", Input{C: 1, H: 28, W: 28, Classes: 10}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{6 * 24 * 24 * 1 * 5 * 5, 16 * 8 * 8 * 6 * 5 * 5, 256 * 120, 120 * 84, 84 * 10}
	if per, _ := macs(m); !slices.Equal(per, want) {
		t.Errorf("lenet on 1×28×28: MACs per layer %v, want %v", per, want)
	}
}
