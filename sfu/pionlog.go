package sfu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogger routes pion's logs into slog. Pion is chatty at info level, so its info becomes debug.
type pionLogger struct {
	log *slog.Logger
}

type pionLoggerFactory struct{ log *slog.Logger }

func newPionLoggerFactory(l *slog.Logger) *pionLoggerFactory { return &pionLoggerFactory{log: l} }

// PionLoggerFactory adapts slog for other pion components (TURN).
func PionLoggerFactory(l *slog.Logger) logging.LoggerFactory { return newPionLoggerFactory(l) }

func (f *pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("pion", scope)}
}

func (l *pionLogger) emit(level slog.Level, msg string) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, msg)
	}
}

func (l *pionLogger) Trace(msg string)                  {}
func (l *pionLogger) Tracef(format string, args ...any) {}
func (l *pionLogger) Debug(msg string)                  { l.emit(slog.LevelDebug-4, msg) }
func (l *pionLogger) Debugf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug-4) {
		l.emit(slog.LevelDebug-4, fmt.Sprintf(format, args...))
	}
}
func (l *pionLogger) Info(msg string) { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.emit(slog.LevelDebug, fmt.Sprintf(format, args...))
	}
}
func (l *pionLogger) Warn(msg string) { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Warnf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.emit(slog.LevelDebug, fmt.Sprintf(format, args...))
	}
}
func (l *pionLogger) Error(msg string) { l.emit(slog.LevelWarn, msg) }
func (l *pionLogger) Errorf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelWarn) {
		l.emit(slog.LevelWarn, fmt.Sprintf(format, args...))
	}
}
