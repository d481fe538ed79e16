package pii

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// A log line never carries an ID or mobile number in clear: in the
// message, a string, an error, a number, a group or a bound attribute.
func TestLogHandlerMasks(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewTextHandler(&b, nil))).With("bound", "caller 13912345678")
	log.Info("row 3: header 13912345678 not known",
		"err", errors.New(`pq: invalid input syntax: "220102199003070425"`),
		"phone", int64(13800138000),
		"row", 3,
		slog.Group("cells", "c1", "220102199003070425", "c2", "ok"))
	out := b.String()
	for _, raw := range []string{"13912345678", "220102199003070425", "13800138000"} {
		if strings.Contains(out, raw) {
			t.Errorf("%s in the log: %s", raw, out)
		}
	}
	for _, want := range []string{"139****5678", "220***********0425", "row=3", "cells.c2=ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
	if NewLogHandler(NewLogHandler(slog.NewTextHandler(&b, nil))).(LogHandler).next == nil {
		t.Error("double wrap")
	}
}
