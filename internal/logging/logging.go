package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	pionlogging "github.com/pion/logging"
)

// ErrInvalid marks an unusable `log:` section.
var ErrInvalid = errors.New("logging: invalid")

// Config is the `log:` section of every role's config file.
type Config struct {
	Level  string `yaml:"level"`  // debug, info, warn, error (default info)
	Format string `yaml:"format"` // text or json (default text)
}

// Default is info-level text logging.
func Default() Config { return Config{Level: "info", Format: "text"} }

// New builds the logger writing to w.
func (c Config) New(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if c.Level != "" {
		if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
			return nil, fmt.Errorf("%w: log.level %q: want debug, info, warn or error", ErrInvalid, c.Level)
		}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(c.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: log.format %q: want text or json", ErrInvalid, c.Format)
}

// Pion adapts l to pion's LoggerFactory: one logger per pion subsystem,
// tagged subsystem=pion/<scope> (the caller's component attribute stays).
// Pion's info lines are noisy, so they go to debug; trace is dropped; its
// errors about reading a socket that was closed on shutdown go to debug too.
func Pion(l *slog.Logger) pionlogging.LoggerFactory { return pionFactory{l} }

type pionFactory struct{ l *slog.Logger }

func (f pionFactory) NewLogger(scope string) pionlogging.LeveledLogger {
	return pionLogger{f.l.With("subsystem", "pion/"+scope)}
}

type pionLogger struct{ l *slog.Logger }

func (pionLogger) Trace(string)                {}
func (pionLogger) Tracef(string, ...any)       {}
func (p pionLogger) Debug(m string)            { p.l.Debug(m) }
func (p pionLogger) Debugf(f string, a ...any) { p.log(slog.LevelDebug, f, a) }
func (p pionLogger) Info(m string)             { p.l.Debug(m) }
func (p pionLogger) Infof(f string, a ...any)  { p.log(slog.LevelDebug, f, a) }
func (p pionLogger) Warn(m string)             { p.l.Warn(m) }
func (p pionLogger) Warnf(f string, a ...any)  { p.log(slog.LevelWarn, f, a) }
func (p pionLogger) Error(m string)            { p.Errorf("%s", m) }
func (p pionLogger) Errorf(f string, a ...any) {
	m := fmt.Sprintf(f, a...)
	if strings.Contains(m, net.ErrClosed.Error()) {
		p.l.Debug(m)
		return
	}
	p.l.Error(m)
}

// log formats only when the level is enabled.
func (p pionLogger) log(lvl slog.Level, f string, a []any) {
	if p.l.Enabled(context.Background(), lvl) {
		p.l.Log(context.Background(), lvl, fmt.Sprintf(f, a...))
	}
}
