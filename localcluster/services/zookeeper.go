package services

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ZooKeeperOptions configure a ZooKeeper server.
type ZooKeeperOptions struct {
	// TickTime is ZooKeeper's tick; the minimum session timeout is two
	// ticks. Default 200ms (sessions can expire in 400ms).
	TickTime time.Duration
	// Port to listen on; 0 picks a free one.
	Port int
}

// ZooKeeper is a running standalone ZooKeeper server.
type ZooKeeper struct {
	Addr string // 127.0.0.1:port
	Port int
	Dir  string
	opts ZooKeeperOptions
	p    *proc
}

// ZooKeeperClasspath is where the Debian package puts ZooKeeper and its
// dependencies, plus the example conf dir for log4j.
const ZooKeeperClasspath = "/usr/share/java/*:/etc/zookeeper/conf_example"

// LaunchZooKeeper starts a standalone server in dir (a new temp dir if empty).
func LaunchZooKeeper(dir string, opts ZooKeeperOptions) (*ZooKeeper, error) {
	if opts.TickTime <= 0 {
		opts.TickTime = 200 * time.Millisecond
	}
	if _, err := os.Stat("/usr/share/zookeeper"); err != nil {
		return nil, fmt.Errorf("services: ZooKeeper not installed (run ./scripts/test.sh, which installs the zookeeper package)")
	}
	dir, port, err := placeOf(dir, "roomcast-zk-", opts.Port)
	if err != nil {
		return nil, err
	}
	z := &ZooKeeper{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Dir: dir, opts: opts}
	cfg := fmt.Sprintf("tickTime=%d\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,cons\nmaxClientCnxns=0\n",
		opts.TickTime.Milliseconds(), filepath.Join(dir, "data"), port)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return z, z.start()
}

func (z *ZooKeeper) start() error {
	args := []string{"-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.log.dir=" + z.Dir,
		"-cp", ZooKeeperClasspath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(z.Dir, "zoo.cfg")}
	p, err := startProc("java", args, z.Dir, filepath.Join(z.Dir, "zookeeper.log"))
	if err != nil {
		return err
	}
	z.p = p
	if err := waitFor(p, 30*time.Second, "zookeeper", z.Ruok); err != nil {
		p.kill(time.Second)
		return err
	}
	return nil
}

// Ruok asks the server "ruok" and reports an error unless it answers imok.
func (z *ZooKeeper) Ruok() error {
	c, err := net.DialTimeout("tcp", z.Addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	// The answer may take a while from a JVM on a loaded box (the test
	// suite runs packages in parallel): a second was once too short for
	// a server that had just answered (TestZooKeeperStarts). A server
	// that is not listening fails the dial at once.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(b) != "imok" {
		return fmt.Errorf("ruok answered %q", b)
	}
	return nil
}

// Start starts the server again after it exited (same port, same data).
func (z *ZooKeeper) Start() error { return z.start() }

// Exited is closed when the current process ends.
func (z *ZooKeeper) Exited() <-chan struct{} { return z.p.done }

// PID of the server process.
func (z *ZooKeeper) PID() int { return z.p.PID() }

// TickTime is the server's tick.
func (z *ZooKeeper) TickTime() time.Duration { return z.opts.TickTime }

// Stop kills the server and waits.
func (z *ZooKeeper) Stop() { z.p.kill(5 * time.Second) }

// Restart stops the server and starts it again with the same data.
func (z *ZooKeeper) Restart() error {
	z.Stop()
	return z.start()
}

// Pause and Resume send SIGSTOP and SIGCONT.
func (z *ZooKeeper) Pause() error  { return z.p.signal(syscall.SIGSTOP) }
func (z *ZooKeeper) Resume() error { return z.p.signal(syscall.SIGCONT) }
