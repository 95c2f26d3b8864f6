// Package e2e holds the lab's end-to-end tests: they build the commands and
// the shipped plugins, run short studies and trainings on generated data,
// and check what reaches stdout and the result store.
//
// The golden test pins the numbers: the curves and metrics of a few short
// runs must equal testdata/golden.json bit for bit. It guards refactors
// (same seed → same curve). The file is valid for builds on an x86-64 CPU
// with AVX2 and FMA and Debian's OpenBLAS; regenerate it with
//
//	go test ./internal/e2e -run Golden -update
//
// only when a change is meant to move the numbers, and say why in the
// commit.
package e2e
