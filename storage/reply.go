package storage

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// The read script answers with nested arrays of strings and integers; these
// helpers read them without panicking on a shape they did not expect.

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func asStrings(v any) []string {
	l := asList(v)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, asString(x))
	}
	return out
}

// asMap reads a flat HGETALL reply.
func asMap(v any) map[string]string {
	l := asList(v)
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		m[asString(l[i])] = asString(l[i+1])
	}
	return m
}

// zip pairs field names with an HMGET reply; absent fields are left out.
func zip(fields []string, values []any) map[string]string {
	m := make(map[string]string, len(fields))
	for i, f := range fields {
		if i < len(values) && values[i] != nil {
			m[f] = asString(values[i])
		}
	}
	return m
}

// unavailable reports whether err means "Redis cannot serve us right now"
// (down, unreachable, failing over, loading) rather than a bug.
func unavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout):
		return true
	}
	msg := err.Error()
	for _, p := range []string{"LOADING", "CLUSTERDOWN", "READONLY", "MASTERDOWN", "TRYAGAIN", "NOREPLICAS", "connection refused"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
