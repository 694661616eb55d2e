package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// daemons runs the node's CSI daemons as the kubelet runs DaemonSet pods:
// started at once, restarted with backoff when they crash.
type daemons struct {
	pidsFile string
	list     []*daemon
	byName   map[string]*daemon
}

type daemon struct {
	spec DaemonSpec
	pids string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	stopping bool
	restarts int
	backoff  time.Duration
}

type daemonStatus struct {
	Name     string `json:"name"`
	Pid      int    `json:"pid"`
	Running  bool   `json:"running"`
	Restarts int    `json:"restarts"`
	Serving  bool   `json:"serving"`
}

func newDaemons(specs []DaemonSpec, pidsFile string) *daemons {
	d := &daemons{pidsFile: pidsFile, byName: map[string]*daemon{}}
	for _, s := range specs {
		x := &daemon{spec: s, pids: pidsFile}
		d.list = append(d.list, x)
		d.byName[s.Name] = x
	}
	return d
}

func (d *daemons) startAll() error {
	for _, x := range d.list {
		if err := x.start(); err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops them in reverse order (the driver before its providers).
func (d *daemons) stopAll() {
	for i := len(d.list) - 1; i >= 0; i-- {
		d.list[i].stop()
	}
}

func (d *daemons) status() []daemonStatus {
	out := make([]daemonStatus, 0, len(d.list))
	for _, x := range d.list {
		out = append(out, x.status())
	}
	return out
}

func (d *daemons) restart(name string) error {
	x, ok := d.byName[name]
	if !ok {
		return fmt.Errorf("no daemon %q", name)
	}
	x.stop()
	x.mu.Lock()
	x.stopping = false
	x.mu.Unlock()
	return x.start()
}

func (x *daemon) start() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	logFile, err := os.OpenFile(x.spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("daemon %s: %w", x.spec.Name, err)
	}
	defer logFile.Close()
	attr := &syscall.SysProcAttr{
		// Its own group, so that a signal to the stand-in's group reaches the
		// stand-in alone and it can stop the daemons in order.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	var cmd *exec.Cmd
	if x.spec.HostsFile != "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd = exec.Command(self, append([]string{"exec-with-hosts", x.spec.HostsFile, "--", x.spec.Command}, x.spec.Args...)...)
		attr.Unshareflags = syscall.CLONE_NEWNS
	} else {
		cmd = exec.Command(x.spec.Command, x.spec.Args...)
	}
	cmd.SysProcAttr = attr
	cmd.Env = x.spec.Env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting daemon %s (%s): %w", x.spec.Name, x.spec.Command, err)
	}
	recordPid(x.pids, cmd.Process.Pid)
	log.Printf("daemon %s started (pid %d)", x.spec.Name, cmd.Process.Pid)
	x.cmd = cmd
	exited := make(chan struct{})
	x.exited = exited
	go func() {
		err := cmd.Wait()
		close(exited)
		x.mu.Lock()
		stopping := x.stopping
		if !stopping {
			x.restarts++
			if x.backoff == 0 {
				x.backoff = time.Second
			} else if x.backoff < 30*time.Second {
				x.backoff *= 2
			}
		}
		wait := x.backoff
		x.mu.Unlock()
		if stopping {
			return
		}
		log.Printf("daemon %s exited unexpectedly (%v); restarting in %s, see %s", x.spec.Name, err, wait, x.spec.LogFile)
		time.Sleep(wait)
		x.mu.Lock()
		again := !x.stopping && x.exited == exited
		x.mu.Unlock()
		if again {
			if err := x.start(); err != nil {
				log.Printf("%v", err)
			}
		}
	}()
	return nil
}

func (x *daemon) stop() {
	x.mu.Lock()
	x.stopping = true
	cmd, exited := x.cmd, x.exited
	x.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	log.Printf("daemon %s stopped", x.spec.Name)
}

func (x *daemon) status() daemonStatus {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := daemonStatus{Name: x.spec.Name, Restarts: x.restarts}
	if x.cmd != nil {
		s.Pid = x.cmd.Process.Pid
		select {
		case <-x.exited:
		default:
			s.Running = true
		}
	}
	s.Serving = s.Running && (x.spec.Socket == "" || socketAccepts(x.spec.Socket))
	return s
}

func socketAccepts(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// recordPid lets a later run kill what a SIGKILLed run left, as the local
// environment's other processes are recorded.
func recordPid(file string, pid int) {
	if file == "" {
		return
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%d\n", pid)
}
