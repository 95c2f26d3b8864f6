// Package owner names a process so that another process can tell whether
// it is still alive: its host name, the host's boot, its pid and the time
// it started. A pid alone is not enough (pids are reused), and a host name
// alone is not either (containers share names across machines): with all
// four, a process on the same machine can decide at once that the owner of
// a piece of work is gone, while other machines must wait for its
// heartbeat to go stale.
package owner

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Owner identifies a process.
type Owner struct {
	Host  string // os.Hostname
	Boot  string // the host's boot id (/proc/sys/kernel/random/boot_id), "" where unknown
	PID   int
	Start uint64 // the process's start time in clock ticks since boot (/proc/PID/stat field 22), 0 where unknown
}

// Self is the calling process.
func Self() Owner {
	host, _ := os.Hostname()
	pid := os.Getpid()
	start, _ := startTime(pid)
	return Owner{Host: host, Boot: bootID(), PID: pid, Start: start}
}

// Of is the process pid of this machine, as Self would describe it.
func Of(pid int) (Owner, error) {
	start, err := startTime(pid)
	if err != nil {
		return Owner{}, fmt.Errorf("process %d: %w", pid, err)
	}
	host, _ := os.Hostname()
	return Owner{Host: host, Boot: bootID(), PID: pid, Start: start}, nil
}

// String describes the owner for messages: "host pid 1234".
func (o Owner) String() string {
	if o.Host == "" && o.PID == 0 {
		return "an unknown process"
	}
	return fmt.Sprintf("%s pid %d", o.Host, o.PID)
}

// Known reports whether o was recorded at all (stores written before
// owners were recorded have none).
func (o Owner) Known() bool { return o.Host != "" && o.PID > 0 }

// SameMachine reports whether o ran on this machine since its last boot,
// where this process can look at its pid.
func (o Owner) SameMachine() bool {
	if !o.Known() || o.Boot == "" {
		return false
	}
	host, _ := os.Hostname()
	return o.Host == host && o.Boot == bootID()
}

// Gone reports whether o is known to have exited: it ran on this machine
// and no process with its pid and start time exists now. For an owner on
// another machine, or one recorded without a boot id or start time, it
// reports false: only its heartbeat can tell.
func (o Owner) Gone() bool {
	if !o.SameMachine() || o.Start == 0 {
		return false
	}
	start, err := startTime(o.PID)
	if err != nil {
		return true // no such process
	}
	return start != o.Start // the pid now belongs to another process
}

// Alive reports whether o is known to be running: it ran on this machine
// and its pid still belongs to the process that started at its start time.
// A live owner whose heartbeat is late is slow or stopped (SIGSTOP, an
// overloaded machine), not dead. Like Gone, it reports false for an owner
// on another machine or recorded without a boot id or start time.
func (o Owner) Alive() bool {
	if !o.SameMachine() || o.Start == 0 {
		return false
	}
	start, err := startTime(o.PID)
	return err == nil && start == o.Start
}

// bootID is the kernel's random id of this boot, or "".
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// startTime reads field 22 (starttime) of /proc/PID/stat.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+1:])
	const startField = 22 - 3 // fields[0] is field 3 (state)
	if len(fields) <= startField {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	return strconv.ParseUint(fields[startField], 10, 64)
}
