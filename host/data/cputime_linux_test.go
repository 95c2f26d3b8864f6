package data

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time (user + system) of the calling OS thread,
// and whether it is available.
func threadCPU() (time.Duration, bool) {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &r); err != nil {
		return 0, false
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano()), true
}
