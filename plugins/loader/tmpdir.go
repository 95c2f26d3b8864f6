package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/lrsgd-lab/lrsgd/internal/owner"
)

// socketDirPrefix names the folders under the system's temporary folder
// that hold the plugins' temporary files — among them go-plugin's Unix
// sockets — one folder per host process: lrsgd-plugins-PID-START.
const socketDirPrefix = "lrsgd-plugins-"

var tempDir struct {
	once sync.Once
	path string
	err  error
}

// pluginTempDir is this process's folder for its plugins' temporary files
// (their TMPDIR). A plugin removes its socket when it exits, but not when
// it or its host is killed; so the first call also removes the folders of
// host processes of this machine that are gone, with what they left.
func pluginTempDir() (string, error) {
	tempDir.once.Do(func() {
		me := owner.Self()
		base := os.TempDir()
		removeStaleTempDirs(base, me)
		tempDir.path = filepath.Join(base, fmt.Sprintf("%s%d-%d", socketDirPrefix, me.PID, me.Start))
		if err := os.MkdirAll(tempDir.path, 0o700); err != nil {
			tempDir.err = fmt.Errorf("plugins' temporary folder: %w", err)
		}
	})
	return tempDir.path, tempDir.err
}

// removeStaleTempDirs removes the plugin folders under base whose host
// process (named by the folder) is gone.
func removeStaleTempDirs(base string, me owner.Owner) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), socketDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, startText, ok := strings.Cut(rest, "-")
		pid, err1 := strconv.Atoi(pidText)
		start, err2 := strconv.ParseUint(startText, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		host := owner.Owner{Host: me.Host, Boot: me.Boot, PID: pid, Start: start}
		if host.Gone() {
			os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}

// withTempDir sets TMPDIR in a plugin's environment to this process's
// plugin folder (see pluginTempDir); on error it leaves env as it is.
func withTempDir(env []string) []string {
	dir, err := pluginTempDir()
	if err != nil {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TMPDIR=") {
			out = append(out, kv)
		}
	}
	return append(out, "TMPDIR="+dir)
}
