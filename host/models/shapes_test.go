package models

import (
	"testing"
)

func TestLayoutSizes(t *testing.T) {
	cifar := Input{C: 3, H: 32, W: 32, Classes: 10}
	fmnist := Input{C: 1, H: 28, W: 28, Classes: 10}
	tests := []struct {
		name  string
		in    Input
		want  int // parameter count, as PyTorch counts it
		stats int
	}{
		// 456 + 2416 + 48120 + 10164 + 850
		{"lenet", cifar, 62006, 0},
		// 156 + 2416 + 256·120+120 + 10164 + 850
		{"lenet", fmnist, 44426, 0},
		// 3072·512+512 + 512·256+256 + 256·10+10
		{"mlp", cifar, 1707274, 0},
		{"mlp", fmnist, 535818, 0},
		// VGG16 convolutions with biases 14,714,688 + BN 2·4224 + classifier 530,442
		{"vgg16", cifar, 15253578, 2 * 4224},
		// kuangliu/pytorch-cifar ResNet18: 11,173,962 parameters
		{"resnet18", cifar, 11173962, 2 * (64 + 4*64 + 4*128 + 128 + 4*256 + 256 + 4*512 + 512)},
	}
	for _, tc := range tests {
		m, err := New(tc.name, tc.in, Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m.NumParams() != tc.want {
			t.Errorf("%s on %v: %d parameters, want %d", tc.name, tc.in, m.NumParams(), tc.want)
		}
		if m.NumStats() != tc.stats {
			t.Errorf("%s on %v: %d stats, want %d", tc.name, tc.in, m.NumStats(), tc.stats)
		}
		off := 0
		for _, p := range m.Layout() {
			if p.Offset != off || p.Size != prod(p.Shape) {
				t.Errorf("%s: tensor %s offset %d size %d shape %v, want offset %d", tc.name, p.Name, p.Offset, p.Size, p.Shape, off)
			}
			off += p.Size
		}
	}
}
