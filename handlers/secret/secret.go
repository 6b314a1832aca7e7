// Package secret makes the random things usher hands out: invitation tokens,
// ids and temporary passwords, and hashes passwords slowly.
package secret

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Token is an invitation link's secret. Its LogValue is redacted so that a
// token handed to slog never reaches a log line.
type Token string

func (Token) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// NewToken returns 32 random bytes, URL-safe base64 encoded (256 bits).
func NewToken(rand io.Reader) (Token, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return Token(base64.RawURLEncoding.EncodeToString(b)), nil
}

// Hash is what storage keeps of a token: SHA-256, hex. A token has 256 bits of
// entropy, so a fast hash is enough (there is nothing to brute-force).
func (t Token) Hash() string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// ValidToken reports whether s has the shape of a token, so that lookups of
// garbage never reach Redis.
func ValidToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

var idEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// NewID returns a short id people can type: 8 characters without look-alikes
// (40 bits; ids are not secrets, collisions are refused by storage).
func NewID(rand io.Reader) (string, error) {
	b := make([]byte, 5)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return idEncoding.EncodeToString(b), nil
}

const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// NewPassword returns a temporary password: 4 groups of 5 characters from a
// 56-character alphabet without look-alikes (about 116 bits), easy to copy.
func NewPassword(rand io.Reader) (string, error) {
	var sb strings.Builder
	max := big.NewInt(int64(len(passwordAlphabet)))
	for i := 0; i < 20; i++ {
		if i > 0 && i%5 == 0 {
			sb.WriteByte('-')
		}
		n, err := randInt(rand, max)
		if err != nil {
			return "", fmt.Errorf("new password: %w", err)
		}
		sb.WriteByte(passwordAlphabet[n])
	}
	return sb.String(), nil
}

func randInt(rand io.Reader, max *big.Int) (int, error) {
	// Rejection sampling over one byte keeps the distribution uniform.
	limit := 256 - 256%int(max.Int64())
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(rand, b); err != nil {
			return 0, err
		}
		if int(b[0]) < limit {
			return int(b[0]) % int(max.Int64()), nil
		}
	}
}

// Argon2id parameters: RFC 9106's second recommended option scaled to a
// chat-ops server (64 MiB would let a burst of resets exhaust memory).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB, OWASP's minimum recommendation for argon2id
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an argon2id hash in the PHC string format, or ErrBusy
// when too many hashes run at once (see SetHashLimit).
func HashPassword(rand io.Reader, password string) (string, error) {
	return HashPasswordContext(context.Background(), rand, password)
}

// HashPasswordContext is HashPassword that stops waiting for a slot when ctx ends.
func HashPasswordContext(ctx context.Context, rand io.Reader, password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	release, err := acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	defer release()
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches a hash made by HashPassword
// (with whatever parameters it records). It reports false, having checked
// nothing, when no slot came free in time: callers that must tell a busy
// server from a wrong password use CheckPasswordContext.
func CheckPassword(hash, password string) bool {
	ok, _ := CheckPasswordContext(context.Background(), hash, password)
	return ok
}

// CheckPasswordContext reports whether password matches hash, or ErrBusy
// when no slot for the check came free in time or before ctx ended.
func CheckPasswordContext(ctx context.Context, hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, nil
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 100 {
		return false, nil
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || len(key) > 128 {
		return false, nil
	}
	release, err := acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	defer release()
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// decoyHash has the parameters of every hash HashPassword makes and matches
// no password (its key is not derived from anything): checking it costs what
// checking a real account's password costs.
var decoyHash = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$dXNoZXIgZGVjb3kgc2FsdA$%s", argon2.Version, argonMemory, argonTime, argonThreads,
	base64.RawStdEncoding.EncodeToString(make([]byte, argonKeyLen)))

// CheckDecoy spends the work of one password check, so that an unknown email
// answers as slowly as a known one with a wrong password. It is bound like
// every other check, and returns ErrBusy the same way.
func CheckDecoy(ctx context.Context, password string) error {
	_, err := CheckPasswordContext(ctx, decoyHash, password)
	return err
}
