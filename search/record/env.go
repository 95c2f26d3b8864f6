package record

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Environment describes this build and machine for run metadata.
func Environment() Env { return Env{Commit: Commit(), Machine: Machine()} }

func goVersion() string { return runtime.Version() }

// buildCommit is the commit `make` stamps into the commands (-ldflags -X),
// with "+dirty" when the tree had changes; "" in other builds.
var buildCommit string

// Commit returns the git commit the binary was built from (the one make
// stamps, else the vcs.revision build setting, with "+dirty" when the tree
// was modified), else the commit of the git work tree around the working
// folder or around the executable (bin/tune in the repository), else "".
func Commit() string {
	if buildCommit != "" {
		return buildCommit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if modified == "true" {
				rev += "+dirty"
			}
			return rev
		}
	}
	dirs := []string{""}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, dir := range dirs {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
		cmd.Dir = dir
		out, err := cmd.Output()
		cancel()
		if err == nil {
			return strings.TrimSpace(string(out))
		}
	}
	return ""
}

// Machine describes this machine: host name, CPU model, logical CPUs,
// OS and architecture.
func Machine() string {
	host, _ := os.Hostname()
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s; %s; %d CPUs; %s/%s", host, cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}
