package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

func setParentDeathSignal() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", errno)
	}
	// The parent may have died before the prctl: then nobody would kill us.
	if os.Getppid() == 1 {
		return fmt.Errorf("the process that started the stand-in is gone")
	}
	return nil
}

// The driver's tmpfs mounts must never land in the host's mount namespace,
// where a killed run would leave them behind.
func requirePrivateMountNamespace() error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("reading /proc/self/ns/mnt: %w", err)
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err != nil {
		return fmt.Errorf("reading the parent's mount namespace: %w", err)
	}
	if self == parent {
		return fmt.Errorf("not in a mount namespace of its own: start it with `unshare -m --propagation private`")
	}
	return nil
}

// execWithHosts runs in a child that Go has already moved into a new mount
// namespace (SysProcAttr.Unshareflags, which also makes / private): it binds
// the hosts file over /etc/hosts there and becomes the daemon.
func execWithHosts(args []string) {
	if len(args) < 3 || args[1] != "--" {
		log.Fatalf("usage: exec-with-hosts HOSTS -- COMMAND [ARGS...]")
	}
	hosts, command := args[0], args[2]
	if err := syscall.Mount(hosts, "/etc/hosts", "", syscall.MS_BIND, ""); err != nil {
		log.Fatalf("binding %s over /etc/hosts: %v", hosts, err)
	}
	path, err := exec.LookPath(command)
	if err != nil {
		log.Fatalf("%s: %v", command, err)
	}
	if err := syscall.Exec(path, args[2:], os.Environ()); err != nil {
		log.Fatalf("exec %s: %v", path, err)
	}
}

// unmountLeftovers detaches whatever is still mounted under dir (a volume whose
// unpublish failed), so that a normal stop leaves nothing even before the
// namespace goes.
func unmountLeftovers(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	prefix := filepath.Clean(dir) + "/"
	var targets []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 4 && strings.HasPrefix(unescapeMountPath(fields[4]), prefix) {
			targets = append(targets, unescapeMountPath(fields[4]))
		}
	}
	// Deepest first.
	for i := len(targets) - 1; i >= 0; i-- {
		if err := syscall.Unmount(targets[i], syscall.MNT_DETACH); err != nil {
			log.Printf("unmounting leftover %s: %v", targets[i], err)
		} else {
			log.Printf("unmounted leftover %s", targets[i])
		}
	}
}

// mountinfo escapes space, tab, newline and backslash as octal.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
