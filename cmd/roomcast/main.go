// Command roomcast runs a roomcast node and its tools.
//
//	roomcast [serve] [flags]     run a node (embedded mode by default)
//	roomcast token --user u1     print a token signed with the configured key
//	roomcast cluster             run a local 3-node cluster (package localcluster)
//
// cmd is wiring only: flags -> config file -> environment -> validate ->
// build -> Run under signal.NotifyContext -> Shutdown with a deadline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, environ, stderr)
	case "token":
		err = token(args, environ, stdout, stderr)
	case "cluster":
		err = cluster(args, stdout, stderr)
	case "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "roomcast: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "roomcast %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  roomcast [serve] [-config file] [-listen addr] [-node id] [-log-level level]
  roomcast token -user id [-role admin] [-ttl 1h] [-config file]
  roomcast cluster [-nodes N] [-dir .local-cluster] [-restart=false]   local cluster (ZooKeeper, Redis, configs/cluster-node*.yaml; logs in -dir)
`)
}

// common are the flags every command reads the configuration with.
type common struct {
	config   string
	listen   string
	node     string
	logLevel string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config file (see configs/roomcast.yaml)")
	fs.StringVar(&c.listen, "listen", "", "override gateway.listen")
	fs.StringVar(&c.node, "node", "", "override node.id")
	fs.StringVar(&c.logLevel, "log-level", "", "override log.level")
}

func (c *common) load(environ []string) (configs.Config, error) {
	cfg, err := configs.Load(c.config, environ)
	if err != nil {
		return cfg, err
	}
	if c.listen != "" {
		cfg.Gateway.Listen = c.listen
	}
	if c.node != "" {
		cfg.Node.ID = c.node
	}
	if c.logLevel != "" {
		cfg.Log.Level = c.logLevel
	}
	return cfg, cfg.Validate()
}

func newLogger(cfg configs.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(args, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := c.load(environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	if cfg.UsesDevSecret() {
		log.Warn("!!! INSECURE: tokens are signed with the public development secret; " +
			"anyone can mint tokens for this server. Set auth.secret (ROOMCAST_AUTH_SECRET) before exposing it.")
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	printWelcome(srv, cfg, log, stderr)
	// SIGHUP reloads the TLS certificate and key (http.tls).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var failed error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-srv.Drained(): // POST /api/v1/node/drain
			break wait
		case failed = <-srv.Failed():
			log.Error("the HTTP server failed; stopping", "err", failed)
			break wait
		case <-hup:
			if err := srv.ReloadTLS(); err != nil {
				log.Warn("SIGHUP: TLS certificate not reloaded", "err", err)
			}
		}
	}
	stop()
	log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if failed == nil {
		// SIGTERM or SIGINT: drain first (leave the cluster, spread the
		// clients' reconnects over gateway.drain_window; see
		// server.StartDrain), then stop.
		if err := srv.Drain(sctx); err != nil {
			log.Warn("drain did not finish; stopping anyway", "err", err, "conns", srv.Gateway().Conns())
		}
	}
	return errors.Join(failed, srv.Close(sctx))
}

func printWelcome(srv *server.Server, cfg configs.Config, log *slog.Logger, w io.Writer) {
	addr := srv.Addr()
	base, ws := "http://"+addr, "ws://"+addr
	if cfg.HTTP.TLS.Enabled() {
		base, ws = "https://"+addr, "wss://"+addr
	}
	log.Info("listening", "ws", ws+"/ws", "health", base+"/healthz", "metrics", base+"/metrics",
		"admin_api", base+"/api/v1")
	if !cfg.UsesDevSecret() {
		fmt.Fprintf(w, "\n  Viewer page:   %s/?room=lobby#token=<token>\n  Admin console: %s/admin?room=lobby#token=<admin token>\n"+
			"  (mint tokens with: roomcast token -user NAME [-role admin])\n\n", base, base)
		return
	}
	tok, err := srv.Keyring().Mint("demo", nil, 24*time.Hour, time.Now())
	if err != nil {
		log.Error("mint demo token", "err", err)
		return
	}
	fmt.Fprintf(w, `
  roomcast is running (embedded mode, public development secret).
  Viewer page:   %[1]s/?room=lobby        open it in two tabs and chat
  Admin console: %[1]s/admin?room=lobby   system notices, mute, ban, kick, stats
  Demo token:    %[2]s
                 (user "demo", valid 24h; the pages fetch their own)

`, base, tok)
}

func token(args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	user := fs.String("user", "", "user id (required)")
	ttl := fs.Duration("ttl", time.Hour, "validity")
	var roles multiFlag
	fs.Var(&roles, "role", "role to grant (repeatable): admin, system")
	var roomRoles multiFlag
	fs.Var(&roomRoles, "room-role", "role in one room, ROOM=host or ROOM=moderator (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("-user is required")
	}
	cfg, err := c.load(environ)
	if err != nil {
		return err
	}
	if cfg.UsesDevSecret() {
		fmt.Fprintln(stderr, "roomcast token: warning: signed with the public development secret (embedded mode only)")
	}
	keys, err := auth.NewKeyring(cfg.Keys()...)
	if err != nil {
		return err
	}
	var rooms map[string]string
	for _, rr := range roomRoles {
		room, role, ok := strings.Cut(rr, "=")
		if !ok || room == "" {
			return fmt.Errorf("-room-role %q: want ROOM=host or ROOM=moderator", rr)
		}
		if rooms == nil {
			rooms = make(map[string]string)
		}
		rooms[room] = role
	}
	tok, err := keys.MintRooms(*user, roles, rooms, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
