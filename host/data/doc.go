// Package data loads, validates, subsets, augments and batches the labelled
// image sets the trainer runs on: CIFAR-10 (official binary layout, as a
// folder or as the official cifar-10-binary.tar.gz), Fashion-MNIST (IDX
// files, gzipped or plain) and a generated "synthetic" set.
//
// A [Set] holds raw uint8 pixels in NCHW order. Normalisation to float32
// happens only when batches are written, by [Stream.Next] for training
// (shuffled, optionally augmented as in the paper's reference code) and by
// [Set.Batch] for evaluation (in order, never augmented).
//
// Everything random in this package is a pure function of a seed: the
// subsets that [Load] takes, the synthetic images, the per-pass
// permutations and the augmentation of every draw. A [Stream]'s position is
// a plain [State] of integers, so a resumed run draws bit-identical batches.
package data
