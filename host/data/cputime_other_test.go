//go:build !linux

package data

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
