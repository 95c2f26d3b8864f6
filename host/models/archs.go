package models

import "fmt"

// lenet is the reference LeNet: conv 3→6 5×5, ReLU, max-pool 2, conv
// 6→16 5×5, ReLU, max-pool 2, dense 400→120→84→classes with ReLU, no
// batch norm. The first dense layer's fan-in follows the input: 16·5·5 =
// 400 on 32×32 images, 16·4·4 = 256 on 28×28 (Fashion-MNIST).
func lenet(b *builder, x value) value {
	x = b.convReLUPool(x, "conv1", 6, 5, 0)
	x = b.convReLUPool(x, "conv2", 16, 5, 0)
	x = b.flatten(x)
	x = b.denseAct(x, "fc1", 120, true)
	x = b.denseAct(x, "fc2", 84, true)
	return b.denseAct(x, "fc3", b.m.input.Classes, false)
}

// mlp is flatten → dense 512 → ReLU → dense 256 → ReLU → dense classes.
func mlp(b *builder, x value) value {
	x = b.flatten(x)
	x = b.denseAct(x, "fc1", 512, true)
	x = b.denseAct(x, "fc2", 256, true)
	return b.denseAct(x, "fc3", b.m.input.Classes, false)
}

// vgg16Cfg is VGG configuration D; 0 marks a 2×2 max-pool.
var vgg16Cfg = [...]int{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}

// vgg16 is VGG16 with batch norm (cfg D: 3×3 convolutions with bias,
// padding 1, each followed by BN and ReLU; five max-pools) and the
// classifier dropout 0.5 → dense 512→512 → ReLU → dropout 0.5 → dense
// 512→512 → ReLU → dense 512→classes. It needs 32×32 inputs (five
// halvings leave 1×1×512).
func vgg16(b *builder, x value) value {
	conv := 0
	for _, c := range vgg16Cfg {
		if c == 0 {
			x = b.maxPool(x)
			continue
		}
		conv++
		x = b.conv(x, fmt.Sprintf("features.conv%d", conv), c, 3, 1, 1, true)
		x = b.bnApply(x, b.bnParams(x, fmt.Sprintf("features.bn%d", conv)), nil, true)
	}
	x = b.flatten(x)
	if b.err == nil && x.shape[1] != 512 {
		return b.fail("vgg16 needs 32×32 inputs: features end with %d values, want 512", x.shape[1])
	}
	x = b.dropout(x, 0.5)
	x = b.denseAct(x, "classifier.fc1", 512, true)
	x = b.dropout(x, 0.5)
	x = b.denseAct(x, "classifier.fc2", 512, true)
	return b.denseAct(x, "classifier.fc3", b.m.input.Classes, false)
}

// resnet18 is the CIFAR ResNet18: 3×3 stem conv 64 (stride 1, no bias)
// with BN and ReLU, no max-pool, BasicBlocks [2, 2, 2, 2] with 64, 128,
// 256, 512 channels (stride 2 at the first block of stages 2–4, a 1×1
// conv + BN shortcut where the shape changes), 4×4 average pool and a
// dense layer 512→classes. It needs 32×32 inputs.
func resnet18(b *builder, x value) value {
	x = b.conv(x, "conv1", 64, 3, 1, 1, false)
	x = b.bnApply(x, b.bnParams(x, "bn1"), nil, true)
	in := 64
	for stage, planes := range []int{64, 128, 256, 512} {
		for blk := 0; blk < 2; blk++ {
			stride := 1
			if stage > 0 && blk == 0 {
				stride = 2
			}
			name := fmt.Sprintf("layer%d.%d", stage+1, blk)
			y := b.conv(x, name+".conv1", planes, 3, stride, 1, false)
			y = b.bnApply(y, b.bnParams(y, name+".bn1"), nil, true)
			y = b.conv(y, name+".conv2", planes, 3, 1, 1, false)
			bn2 := b.bnParams(y, name+".bn2") // bound before the shortcut: state_dict order
			short := x
			if stride != 1 || in != planes {
				short = b.conv(x, name+".shortcut.conv", planes, 1, stride, 0, false)
				short = b.batchNorm(short, name+".shortcut.bn")
			}
			x = b.bnApply(y, bn2, &short, true) // relu(bn2(y) + shortcut)
			in = planes
		}
	}
	if b.err == nil && (x.shape[2] != 4 || x.shape[3] != 4) {
		return b.fail("resnet18 needs 32×32 inputs: the last stage is %d×%d, want 4×4", x.shape[2], x.shape[3])
	}
	x = b.flatten(b.avgPool(x, 4))
	return b.denseAct(x, "linear", b.m.input.Classes, false)
}
