package pgserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spacecast/spacecast/internal/procattr"

	"github.com/jackc/pgx/v5"
)

// ErrUnavailable means PostgreSQL cannot run here: its programs or the
// OS user to run it as are missing.
var ErrUnavailable = errors.New("pgserver: PostgreSQL unavailable")

// Options tune a server. The zero value is a fast, non-durable server for
// tests.
type Options struct {
	// Durable keeps fsync, synchronous commits and full-page writes on, as
	// a production server has them (benchmarks); off by default, which
	// makes tests several times faster.
	Durable bool
	// MaxConnections is the server's max_connections (300).
	MaxConnections int
	// Settings are further `-c name=value` settings.
	Settings map[string]string
}

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// Host and Port are where it listens (127.0.0.1 and a free port).
	Host string
	Port int
	// User is a superuser; Password its password.
	User, Password string

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, valid once done is closed
	once sync.Once
}

// BinDir finds the folder of initdb and postgres: the one on PATH, else
// the newest /usr/lib/postgresql/<version>/bin (where Debian puts them).
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no initdb and postgres on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)", ErrUnavailable)
}

// runAs is the credential the server runs with: none (this user) unless
// this process is root, which postgres refuses; then the postgres user.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root and there is no postgres OS user to run the server as: %w", ErrUnavailable, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: postgres user has ids %q:%q", ErrUnavailable, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Start makes a data directory and starts a server on it; Stop ends it and
// removes the directory.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "spacecast-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	s := &Server{Host: "127.0.0.1", User: "spacecast", Password: strings.ToLower(rand.Text()), dir: dir}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		for _, p := range []string{dir, pwfile} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("pgserver: %w", err)
			}
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", s.User, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgserver: initdb: %w\n%s", err, out)
	}
	// A port picked free may be taken before the server binds it: try a
	// few.
	for attempt := 0; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
		err = s.start(ctx, bin, data, cred, o)
		if err == nil || attempt == 4 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgserver: free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port, nil
}

func (s *Server) start(ctx context.Context, bin, data string, cred *syscall.Credential, o Options) error {
	maxConns := o.MaxConnections
	if maxConns <= 0 {
		maxConns = 300
	}
	settings := map[string]string{
		"listen_addresses":        s.Host,
		"port":                    strconv.Itoa(s.Port),
		"unix_socket_directories": "",
		"max_connections":         strconv.Itoa(maxConns),
		"logging_collector":       "off",
		"log_min_messages":        "warning",
	}
	if !o.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range o.Settings {
		settings[k] = v
	}
	args := []string{"-D", data}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGQUIT is PostgreSQL's immediate shutdown: if this process dies,
	// so does the server (and its backends, which watch the postmaster).
	cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGQUIT)
	cmd.SysProcAttr.Credential, cmd.SysProcAttr.Setpgid = cred, true
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgserver: start postgres: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("pgserver: postgres exited (%v): %s", s.err, tail(log, 2000))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.kill()
			return fmt.Errorf("pgserver: postgres did not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond) // polling for readiness
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// kill ends the server at once and waits for it.
func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// Stop ends the server (immediate shutdown: nothing in it is kept) and
// removes its folder; safe to call twice.
func (s *Server) Stop() error {
	s.once.Do(func() {
		s.kill()
		_ = os.RemoveAll(s.dir)
	})
	return nil
}

// PID is the server's process (the postmaster; its backends are its
// children).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// DSN is the superuser's URL of database db.
func (s *Server) DSN(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.User, s.Password),
		Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// DSNWithoutPassword is DSN without the password (which then comes from
// elsewhere, such as the environment).
func (s *Server) DSNWithoutPassword(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(s.User),
		Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDB makes an empty database and returns its DSN.
func (s *Server) CreateDB(ctx context.Context, name string) (string, error) {
	return s.CreateDBFrom(ctx, name, "template0")
}

// CreateDBFrom makes a database as a copy of template (which nobody may be
// connected to) and returns its DSN. The copy is a file copy: much faster
// than the WAL-logged default for a throwaway server.
func (s *Server) CreateDBFrom(ctx context.Context, name, template string) (string, error) {
	if err := s.admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+
		" TEMPLATE "+pgx.Identifier{template}.Sanitize()+" STRATEGY = FILE_COPY"); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}

// DropDB removes a database, closing its connections first.
func (s *Server) DropDB(ctx context.Context, name string) error {
	return s.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func (s *Server) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgserver: %s: %w", sql, err)
	}
	return nil
}

// NewDBName is a fresh database name.
func NewDBName(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text())[:16]
}
