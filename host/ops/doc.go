// Package ops holds fast Gorgonia operations for the layers that dominate
// a CPU training step: a convolution fused with bias, ReLU and 2×2 max
// pooling (Conv2D, LeNet's), a general convolution by im2col and OpenBLAS
// SGEMM with any stride and padding (Conv, for VGG16 and ResNet18), batch
// normalisation fused with the residual sum and ReLU (BatchNorm), 2×2 max
// pooling (MaxPool2), the global average pool (GlobalAvgPool), dropout
// (Dropout), a fused dense layer (Dense), and the mean softmax
// cross-entropy (SoftmaxCrossEntropy).
//
// Conv stacks several samples side by side in one SGEMM when the output
// is small, accumulates the filter gradient per fixed group of sample
// blocks and adds the groups in order; its im2col and col2im, and the batch
// norm's passes (float64 sums), are AVX2 C kernels with Go fallbacks.
// Several Conv ops of one graph share a Workspace for their scratch.
//
// Gorgonia stays the graph and autodiff engine: each function adds an op
// node whose SymDiff adds backward ops, so gorgonia.Grad and the tape machine
// work as with Gorgonia's own ops. What differs is inside the ops:
//
//   - Work is split over the samples of the batch (or rows of a matrix)
//     across runtime.GOMAXPROCS persistent worker goroutines owned by the op.
//     Convolutions hand samples out one at a time, so a descheduled worker
//     does not stall the step, and keep per-sample filter gradients that are
//     summed in sample order afterwards: their results are bit-identical for
//     any GOMAXPROCS. Dense layers cut rows into chunks whose bounds depend
//     on the row count alone, so they too give the same bits for any
//     GOMAXPROCS.
//   - Convolutions read the (padded) input in place through a table of tap
//     offsets — an im2col whose rows are contiguous runs of the image, never
//     written out — into AVX2/FMA kernels written in C (Go loops where cgo or
//     AVX2 is missing, or with -tags noavx2). The input gradient reuses the
//     same kernel as a full correlation with the flipped filters.
//   - Dense layers call host/blas (OpenBLAS pinned to one thread, or gonum).
//   - Every buffer, outputs included, belongs to the op and is reused each
//     step: the step path does not allocate.
//   - Each op instance hashes uniquely, so Gorgonia never merges two layers.
//   - When a layer's input is a graph input (not computed by an op), no
//     input gradient is computed for it.
//
// Values returned by the ops are owned by them and overwritten by the next
// step, like Gorgonia's own tape-machine registers.
package ops
