package services

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/freeport"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// below the kernel's ephemeral range so that no outgoing connection takes
// it before it is listened on (internal/freeport).
func FreePort() (int, error) { return freeport.Pick() }

// placeOf fills in a launcher's working directory (a new temp dir named
// prefix* when empty) and port (a free one when 0).
func placeOf(dir, prefix string, port int) (string, int, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", prefix)
		if err != nil {
			return "", 0, err
		}
		dir = d
	}
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return "", 0, err
		}
		port = p
	}
	return dir, port, nil
}

// proc is a child process we own.
type proc struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(name string, args []string, dir string, logFile string) (*proc, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("services: %s not found (run ./scripts/test.sh, which installs it): %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// PID of the process.
func (p *proc) PID() int { return p.cmd.Process.Pid }

// signal sends sig to the process.
// signal sends sig; for SIGSTOP it returns once the process is stopped.
func (p *proc) signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	if sig == syscall.SIGSTOP {
		return WaitStopped(p.cmd.Process.Pid, 5*time.Second)
	}
	return nil
}

// WaitStopped waits until every thread of process pid is stopped (after
// SIGSTOP), or timeout. kill(2) returns once the signal is queued, not
// once it took effect: a thread running on another CPU (a busy box, a
// descheduled vCPU) goes on for a moment, and what a caller does "while
// the process is stopped" right after could still be served by it.
func WaitStopped(pid int, timeout time.Duration) error {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	deadline := time.Now().Add(timeout)
	for {
		stopped, err := allStopped(dir)
		if stopped {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("a thread still runs")
			}
			return fmt.Errorf("services: process %d not stopped after %v: %w", pid, timeout, err)
		}
		time.Sleep(time.Millisecond)
	}
}

func allStopped(dir string) (bool, error) {
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			return false, err
		}
		// The state is the field after the command name in parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || (stat[i+2] != 'T' && stat[i+2] != 't') {
			return false, nil
		}
	}
	return len(tasks) > 0, nil
}

// kill stops the process: SIGTERM, then SIGKILL after grace, and waits.
func (p *proc) kill(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls check until it succeeds, the process exits or d passes.
func waitFor(p *proc, d time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("services: %s exited before it was ready", what)
		}
		if err = check(); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("services: %s not ready after %v: %v", what, d, err)
}
