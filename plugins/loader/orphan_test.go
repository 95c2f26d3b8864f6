package loader

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// TestPluginExitsWithHost: a host that dies without closing its plugin
// (here a child process that exits right after Open) does not leave the
// plugin process behind.
func TestPluginExitsWithHost(t *testing.T) {
	if os.Getenv("LRSGD_TEST_ORPHAN_HOST") == "1" {
		o, err := Open(context.Background(), "sgd", Options{Dir: os.Getenv("LRSGD_TEST_ORPHAN_DIR")})
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		if _, err := o.Init(context.Background(), optimizer.InitConfig{NumParams: 1000}); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("pid " + strconv.Itoa(o.(*remote).cmd.Process.Pid) + "\n")
		os.Exit(0) // no Close
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPluginExitsWithHost$")
	cmd.Env = append(os.Environ(), "LRSGD_TEST_ORPHAN_HOST=1", "LRSGD_TEST_ORPHAN_DIR="+pluginDir(t, "sgd"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("host process: %v\n%s", err, out)
	}
	var pid int
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("host process printed no plugin pid:\n%s", out)
	}
	// The plugin checks its parent every second; allow for a loaded machine.
	for range 300 {
		if !alive(pid) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("plugin process %d still runs 30 s after its host exited", pid)
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
