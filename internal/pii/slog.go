package pii

import (
	"context"
	"fmt"
	"log/slog"
)

// LogHandler masks every resident ID and mobile number (ScrubText) in the
// message and the attribute values of each record before next sees it: a
// log line never carries personal data in clear, even when an error of a
// source system or a driver quotes a value.
type LogHandler struct{ next slog.Handler }

// NewLogHandler wraps next; wrapping a LogHandler again returns it as is.
func NewLogHandler(next slog.Handler) slog.Handler {
	if h, ok := next.(LogHandler); ok {
		return h
	}
	return LogHandler{next: next}
}

// Enabled reports whether next handles level.
func (h LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle masks r and passes it on.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	msg, _ := ScrubText(r.Message)
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs masks attrs once, as they are bound.
func (h LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = scrubAttr(a)
	}
	return LogHandler{next: h.next.WithAttrs(masked)}
}

// WithGroup passes the group on.
func (h LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{next: h.next.WithGroup(name)}
}

func scrubAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		s, _ := ScrubText(v.String())
		return slog.String(a.Key, s)
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = scrubAttr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration, slog.KindTime:
		if v.Kind() == slog.KindInt64 || v.Kind() == slog.KindUint64 {
			if s, n := ScrubText(v.String()); n > 0 { // a number that is a phone number
				return slog.String(a.Key, s)
			}
		}
		return slog.Attr{Key: a.Key, Value: v}
	default: // errors, stringers, structs: as the text handler would print them
		s, _ := ScrubText(fmt.Sprint(v.Any()))
		return slog.String(a.Key, s)
	}
}
