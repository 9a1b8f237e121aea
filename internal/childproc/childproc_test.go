package childproc_test

import (
	"os/exec"
	"runtime"
	"testing"

	"github.com/backstop-go/backstop/internal/childproc"
)

func TestStart(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := exec.Command(sleep, "30")
	if err := childproc.Start(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if runtime.GOOS == "linux" && (cmd.SysProcAttr == nil || cmd.SysProcAttr.Pdeathsig == 0) {
		t.Error("no parent-death signal set")
	}
	if cmd.Process == nil || cmd.Process.Pid <= 0 {
		t.Error("not started")
	}
}
