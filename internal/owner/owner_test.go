package owner

import (
	"os/exec"
	"syscall"
	"testing"
)

func TestSelfAliveAndExitedChildGone(t *testing.T) {
	me := Self()
	if !me.Known() || me.Start == 0 || me.Boot == "" || !me.SameMachine() || me.Gone() {
		t.Fatalf("Self() = %+v: known %v, same machine %v, gone %v", me, me.Known(), me.SameMachine(), me.Gone())
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start, err := startTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	child := Owner{Host: me.Host, Boot: me.Boot, PID: cmd.Process.Pid, Start: start}
	if child.Gone() || !child.Alive() {
		t.Fatalf("running child %+v: gone %v, alive %v", child, child.Gone(), child.Alive())
	}
	// A stopped process is alive: its heartbeat is late, it has not died.
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if !child.Alive() || child.Gone() {
		t.Errorf("stopped child %+v: alive %v, gone %v", child, child.Alive(), child.Gone())
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !child.Gone() || child.Alive() {
		t.Errorf("killed child %+v: gone %v, alive %v", child, child.Gone(), child.Alive())
	}
	// The same pid with another start time is another process.
	reused := me
	reused.Start++
	if !reused.Gone() {
		t.Errorf("pid %d with another start time not reported gone", me.PID)
	}
	for _, o := range []Owner{
		{},                                 // never recorded
		{Host: "elsewhere", PID: 1},        // another machine
		{Host: me.Host, PID: me.PID},       // no boot id: cannot judge
		{Host: me.Host, Boot: "x", PID: 1}, // another boot
	} {
		if o.Gone() || o.Alive() {
			t.Errorf("%+v reported gone %v, alive %v; only its heartbeat can tell", o, o.Gone(), o.Alive())
		}
	}
}
