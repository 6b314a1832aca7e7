package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
)

// TestSealIsThePrefixedBase64 holds seal's pieced-together base64 to the
// encoding of the whole ciphertext, at sizes around its 768-byte pieces,
// and opens each.
func TestSealIsThePrefixedBase64(t *testing.T) {
	s := newSealer(nil, keys{prefix: "usher:{sealtest}:"})
	for _, n := range []int{0, 1, 2, 3, 751, 752, 753, 767, 768, 769, 1535, 1536, 5000, 70000} {
		plain := make([]byte, n)
		rand.Read(plain)
		sealed := s.seal(plain)
		b64, ok := bytes.CutPrefix([]byte(sealed), []byte(sealedPrefix))
		if !ok {
			t.Fatalf("%d bytes: sealed without its prefix", n)
		}
		ct, err := base64.RawStdEncoding.DecodeString(string(b64))
		if err != nil {
			t.Fatalf("%d bytes: not base64: %v", n, err)
		}
		if len(ct) != n+16+12 { // GCM's tag and random nonce
			t.Fatalf("%d bytes: %d of ciphertext", n, len(ct))
		}
		got, err := s.open(sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: open: %v", n, err)
		}
	}
}

// TestOpenRefusesWhatIsNotASealedPayload: bad base64 anywhere in a long
// payload, a cut one, an altered one.
func TestOpenRefusesWhatIsNotASealedPayload(t *testing.T) {
	s := newSealer(nil, keys{prefix: "usher:{sealtest}:"})
	sealed := s.seal(make([]byte, 3000))
	other := "A"
	if sealed[2000] == 'A' {
		other = "B"
	}
	for name, stored := range map[string]string{
		"not sealed":        "plain",
		"bad base64 late":   sealed[:2500] + "*" + sealed[2501:],
		"cut":               sealed[:len(sealed)-7],
		"altered":           sealed[:2000] + other + sealed[2001:],
		"another org's key": newSealer(nil, keys{prefix: "usher:{other}:"}).seal(make([]byte, 3000)),
	} {
		if _, err := s.open(stored); !errors.Is(err, errUnsealable) {
			t.Errorf("%s: %v, want errUnsealable", name, err)
		}
	}
}

// BenchmarkSeal seals a 3.4 KB payload, an invitation DM's size, as seal
// does and, in the same run, as it did before (Seal's own buffer, then
// EncodeToString, then the prefix added: three copies of the ciphertext).
func BenchmarkSeal(b *testing.B) {
	s := newSealer(nil, keys{prefix: "usher:{sealbench}:"})
	plain := bytes.Repeat([]byte(`{"blocks":[]}`), 3400/13)
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = s.seal(plain)
		}
	})
	b.Run("three-copies", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = sealedPrefix + base64.RawStdEncoding.EncodeToString(s.aead.Seal(nil, nil, plain, s.org))
		}
	})
}
