package secret_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/usher-chat/usher/handlers/secret"
)

func seeded(b byte) io.Reader {
	var seed [32]byte
	seed[0] = b
	return rand.NewChaCha8(seed)
}

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestNewToken(t *testing.T) {
	seen := map[secret.Token]bool{}
	for i := 0; i < 50; i++ {
		tok, err := secret.NewToken(seeded(byte(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !urlSafe.MatchString(string(tok)) {
			t.Fatalf("token %q is not 43 URL-safe characters", tok)
		}
		if !secret.ValidToken(string(tok)) {
			t.Fatalf("ValidToken(%q) = false for a new token", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}

	// 32 zero bytes encode as 43 'A's.
	tok, err := secret.NewToken(bytes.NewReader(make([]byte, 32)))
	if err != nil || tok != secret.Token(strings.Repeat("A", 43)) {
		t.Errorf("NewToken(zeros) = %q, %v", tok, err)
	}
	// A reader that runs dry is an error, not a short token.
	if tok, err := secret.NewToken(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Errorf("NewToken(31 bytes) = %q, want an error", tok)
	}
	if _, err := secret.NewToken(iotest.ErrReader(errors.New("boom"))); err == nil {
		t.Error("NewToken(failing reader) succeeded")
	}
}

func TestValidToken(t *testing.T) {
	good, _ := secret.NewToken(seeded(1))
	tests := []struct {
		in   string
		want bool
	}{
		{string(good), true},
		{strings.Repeat("A", 43), true},
		{strings.Repeat("_", 42) + "w", true},
		{"", false},
		{string(good)[:42], false},
		{string(good) + "A", false},
		{string(good)[:42] + "=", false},
		{strings.Repeat("A", 42) + "+", false}, // standard, not URL-safe, alphabet
		{strings.Repeat("A", 42) + "/", false},
		{strings.Repeat("A", 42) + " ", false},
		{strings.Repeat("A", 42) + "é", false},
		{strings.Repeat("A", 44), false},
	}
	for _, tt := range tests {
		if got := secret.ValidToken(tt.in); got != tt.want {
			t.Errorf("ValidToken(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTokenHash(t *testing.T) {
	// SHA-256 of "a".
	if got := secret.Token("a").Hash(); got != "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb" {
		t.Errorf(`Token("a").Hash() = %q`, got)
	}
	hexRe := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		tok, _ := secret.NewToken(seeded(byte(i)))
		h := tok.Hash()
		if !hexRe.MatchString(h) {
			t.Fatalf("Hash() = %q, want 64 lower-case hex characters", h)
		}
		if h == string(tok) || strings.Contains(h, string(tok)) {
			t.Fatalf("hash %q reveals the token", h)
		}
		if seen[h] {
			t.Fatalf("two tokens share the hash %q", h)
		}
		seen[h] = true
		if tok.Hash() != h {
			t.Fatal("Hash is not stable")
		}
		if _, err := hex.DecodeString(h); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenLogValueIsRedacted(t *testing.T) {
	tok, err := secret.NewToken(seeded(7))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("invitation sent", "token", tok)
	log.Info("as attr", slog.Any("token", tok))
	log.With("token", tok).Info("with")
	log.Info("in a group", slog.Group("invitation", "id", "abc", "token", tok))
	log.WithGroup("g").Info("with group", "token", tok)

	out := buf.String()
	if strings.Contains(out, string(tok)) {
		t.Fatalf("the token reached the log:\n%s", out)
	}
	if n := strings.Count(out, `"[redacted]"`); n != 5 {
		t.Errorf("want 5 redacted values, got %d:\n%s", n, out)
	}
	if tok.LogValue().String() != "[redacted]" {
		t.Errorf("LogValue = %v", tok.LogValue())
	}
}

const idAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^[` + idAlphabet + `]{8}$`)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		id, err := secret.NewID(seeded(byte(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(id) {
			t.Fatalf("NewID = %q, want 8 characters of %s", id, idAlphabet)
		}
		if strings.ContainsAny(id, "01lo@") {
			t.Fatalf("NewID = %q has a look-alike", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte{0, 0, 0, 0, 0}, "aaaaaaaa"},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff}, "99999999"},
	}
	for _, tt := range tests {
		if got, err := secret.NewID(bytes.NewReader(tt.in)); err != nil || got != tt.want {
			t.Errorf("NewID(%x) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if id, err := secret.NewID(bytes.NewReader([]byte{1, 2, 3, 4})); err == nil {
		t.Errorf("NewID(4 bytes) = %q, want an error", id)
	}
}

const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func TestNewPassword(t *testing.T) {
	group := `[` + passwordAlphabet + `]{5}`
	re := regexp.MustCompile(`^` + group + `-` + group + `-` + group + `-` + group + `$`)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		pw, err := secret.NewPassword(seeded(byte(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(pw) {
			t.Fatalf("NewPassword = %q, want 4 groups of 5 from the alphabet", pw)
		}
		if strings.ContainsAny(pw, "0O1lI") {
			t.Fatalf("NewPassword = %q has a look-alike", pw)
		}
		if seen[pw] {
			t.Fatalf("password %q repeated", pw)
		}
		seen[pw] = true
	}

	if len(passwordAlphabet) != 56 {
		t.Fatalf("test alphabet has %d characters", len(passwordAlphabet))
	}
	// Known answers: byte n picks alphabet[n%56]; bytes >= 224 are rejected
	// (rejection sampling keeps the distribution uniform).
	seq := func(bs ...byte) []byte { return bs }
	counting := make([]byte, 20)
	for i := range counting {
		counting[i] = byte(i)
	}
	tests := []struct {
		in   []byte
		want string
	}{
		{counting, "abcde-fghij-kmnpq-rstuv"},
		{append(seq(255, 224, 56, 55, 111, 112), counting[:16]...), "a99aa-bcdef-ghijk-mnpqr"},
	}
	for _, tt := range tests {
		if got, err := secret.NewPassword(bytes.NewReader(tt.in)); err != nil || got != tt.want {
			t.Errorf("NewPassword(%v) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	// A reader of only rejected bytes runs dry: an error, not a hang.
	if pw, err := secret.NewPassword(bytes.NewReader(bytes.Repeat([]byte{250}, 100))); err == nil {
		t.Errorf("NewPassword(rejected bytes) = %q, want an error", pw)
	}
	if pw, err := secret.NewPassword(bytes.NewReader(counting[:19])); err == nil {
		t.Errorf("NewPassword(19 bytes) = %q, want an error", pw)
	}
}

func TestPasswordHashing(t *testing.T) {
	const pw = "abcde-fghij-kmnpq-rstuv"
	hash, err := secret.HashPassword(seeded(1), pw) // argon2 call 1
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %q, want an argon2id PHC string", hash)
	}
	if strings.Contains(hash, pw) {
		t.Fatalf("hash %q contains the password", hash)
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		t.Fatalf("hash %q has %d $-parts", hash, len(parts))
	}
	flip := func(s string) string { // change the first character
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}

	tests := []struct {
		name     string
		hash, pw string
		want     bool
	}{
		{"right password", hash, pw, true},                         // argon2 call 2
		{"wrong password", hash, "abcde-fghij-kmnpq-rstuw", false}, // 3
		{"tampered key", with(5, flip(parts[5])), pw, false},       // 4
		{"tampered salt", with(4, flip(parts[4])), pw, false},      // 5
		{"tampered cost", with(3, "m=19456,t=3,p=1"), pw, false},   // 6
		{"other algorithm", with(1, "argon2i"), pw, false},         // the rest fail before hashing
		{"empty", "", pw, false},
		{"plain text", pw, pw, false},
		{"too few parts", "$argon2id$v=19$m=19456,t=2,p=1$" + parts[4], pw, false},
		{"too many parts", hash + "$x", pw, false},
		{"unparsable params", with(3, "m=x,t=2,p=1"), pw, false},
		{"zero memory", with(3, "m=0,t=2,p=1"), pw, false},
		{"zero time", with(3, "m=19456,t=0,p=1"), pw, false},
		{"zero threads", with(3, "m=19456,t=2,p=0"), pw, false},
		{"too much memory", with(3, "m=4194305,t=2,p=1"), pw, false},
		{"too much time", with(3, "m=19456,t=101,p=1"), pw, false},
		{"threads overflow", with(3, "m=19456,t=2,p=256"), pw, false},
		{"salt not base64", with(4, "!!!"), pw, false},
		{"key not base64", with(5, "!!!"), pw, false},
		{"empty key", with(5, ""), pw, false},
		{"key too long", with(5, strings.Repeat("A", 176)), pw, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := secret.CheckPassword(tt.hash, tt.pw); got != tt.want {
				t.Errorf("CheckPassword(%q, %q) = %v, want %v", tt.hash, tt.pw, got, tt.want)
			}
		})
	}

	if _, err := secret.HashPassword(bytes.NewReader(make([]byte, 15)), pw); err == nil {
		t.Error("HashPassword with a short reader succeeded")
	}
}

// TestDeterministic: the same seed gives the same outputs, so that tests of
// the service can fix every random value; another seed gives other ones.
func TestDeterministic(t *testing.T) {
	type outputs struct {
		tok       secret.Token
		id, pw, h string
	}
	gen := func(seed byte) outputs {
		r := seeded(seed)
		tok, err1 := secret.NewToken(r)
		id, err2 := secret.NewID(r)
		pw, err3 := secret.NewPassword(r)
		h, err4 := secret.HashPassword(r, "pw")
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatal(err)
		}
		return outputs{tok, id, pw, h}
	}
	a, b := gen(42), gen(42)
	if a != b {
		t.Errorf("same seed, different outputs:\n%+v\n%+v", a, b)
	}
	c := gen(43)
	if a.tok == c.tok || a.id == c.id || a.pw == c.pw || a.h == c.h {
		t.Errorf("different seeds share an output:\n%+v\n%+v", a, c)
	}
}
