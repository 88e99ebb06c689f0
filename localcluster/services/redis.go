package services

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RedisOptions configure a redis-server.
type RedisOptions struct {
	// AOF turns on the append-only file with appendfsync always, so a
	// restart keeps every acknowledged write.
	AOF bool
	// MaxMemory (e.g. "2mb") with maxmemory-policy noeviction makes writes
	// fail with OOM once full.
	MaxMemory string
	// Args are extra redis-server arguments ("--name", "value", ...).
	Args []string
	// Port to listen on; 0 picks a free one.
	Port int
}

// Redis is a running redis-server.
type Redis struct {
	Addr string // 127.0.0.1:port
	Port int
	Dir  string // its working directory (AOF lives here)
	opts RedisOptions
	p    *proc
}

// LaunchRedis starts a redis-server in dir (a new temp dir if empty).
func LaunchRedis(dir string, opts RedisOptions) (*Redis, error) {
	dir, port, err := placeOf(dir, "roomcast-redis-", opts.Port)
	if err != nil {
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Dir: dir, opts: opts}
	return r, r.start()
}

// CommandLine is the redis-server command this Redis runs, as a shell
// would be given it.
func (r *Redis) CommandLine() string {
	var b strings.Builder
	b.WriteString("redis-server")
	for _, a := range r.args() {
		if a == "" {
			a = `""`
		}
		b.WriteString(" " + a)
	}
	return b.String()
}

// Start starts the server again after it exited (same port, same data).
func (r *Redis) Start() error { return r.start() }

// Exited is closed when the current process ends.
func (r *Redis) Exited() <-chan struct{} { return r.p.done }

func (r *Redis) start() error {
	p, err := startProc("redis-server", r.args(), r.Dir, filepath.Join(r.Dir, "redis.log"))
	if err != nil {
		return err
	}
	r.p = p
	if err := waitFor(p, 10*time.Second, "redis-server", r.ping); err != nil {
		p.kill(time.Second)
		return err
	}
	return nil
}

func (r *Redis) args() []string {
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(r.Port), "--dir", r.Dir,
		"--save", "", "--protected-mode", "no", "--daemonize", "no"}
	if r.opts.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if r.opts.MaxMemory != "" {
		args = append(args, "--maxmemory", r.opts.MaxMemory, "--maxmemory-policy", "noeviction")
	}
	return append(args, r.opts.Args...)
}

// ping speaks RESP by hand so this package needs no client.
func (r *Redis) ping() error {
	c, err := net.DialTimeout("tcp", r.Addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// PID of the server process.
func (r *Redis) PID() int { return r.p.PID() }

// Stop kills the server (SIGTERM, then SIGKILL) and waits.
func (r *Redis) Stop() { r.p.kill(5 * time.Second) }

// Kill stops the server with SIGKILL at once (no shutdown save).
func (r *Redis) Kill() {
	_ = r.p.signal(syscall.SIGKILL)
	<-r.p.done
}

// Restart stops the server and starts it again on the same port and dir.
func (r *Redis) Restart() error {
	r.Stop()
	return r.start()
}

// Pause and Resume send SIGSTOP and SIGCONT.
func (r *Redis) Pause() error  { return r.p.signal(syscall.SIGSTOP) }
func (r *Redis) Resume() error { return r.p.signal(syscall.SIGCONT) }
