package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Outbox payloads carry secrets on their way to chat: an invitation's link
// (its token) and a reset's temporary password. Redis keeps tokens and
// passwords only as hashes, so it must not keep them in a queued message
// either: every payload is sealed (AES-256-GCM, a random nonce each) before
// it is written and opened when a worker claims it. The key comes from the
// deployment secret (NewSealKey), the same on every replica, because any
// replica's worker may send any replica's messages.
//
// Stored form: sealedPrefix + base64 (nonce, ciphertext, tag). Base64 rather
// than raw bytes because a delayed job's payload travels inside a JSON member
// (Later), which would mangle invalid UTF-8.
const sealedPrefix = "sealed1:"

// errUnsealable: a payload that this process's key cannot open — sealed with
// another key (replicas configured with different secrets, or a process that
// ran without one) or altered in Redis.
var errUnsealable = errors.New("outbox payload cannot be opened with this process's key")

// NewSealKey derives the outbox sealing key from the deployment secret.
func NewSealKey(secret []byte) (cipher.AEAD, error) {
	if len(secret) == 0 {
		return nil, errors.New("seal key: empty secret")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "usher outbox payload seal v1", 32)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return aeadFor(key)
}

func aeadFor(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	// Random 96-bit nonces stay safe for about 2^32 messages per key, far
	// more than an outbox sends between secret rotations.
	return cipher.NewGCMWithRandomNonce(block)
}

// processSealKey seals for a store or outbox given no key: nothing is ever
// written in the clear, but only this process can open what it sealed.
var processSealKey = sync.OnceValue(func() cipher.AEAD {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand panics rather than return an error)
	a, err := aeadFor(key)
	if err != nil {
		panic(err)
	}
	return a
})

// sealer seals one organization's payloads; its key prefix is the
// additional data, so a payload copied into another organization's outbox
// does not open there.
type sealer struct {
	aead cipher.AEAD
	org  []byte
}

func newSealer(aead cipher.AEAD, k keys) sealer {
	if aead == nil {
		aead = processSealKey()
	}
	return sealer{aead: aead, org: []byte(k.prefix)}
}

// seal is on every commit that queues a message, and a message's payload
// is a few KB: the ciphertext goes to a pooled buffer and the base64 goes
// straight into the one string returned, the only allocation.
func (s sealer) seal(plain []byte) string {
	bp := sealScratch.Get().(*[]byte)
	ct := s.aead.Seal((*bp)[:0], nil, plain, s.org)
	var b strings.Builder
	b.Grow(len(sealedPrefix) + base64.RawStdEncoding.EncodedLen(len(ct)))
	b.WriteString(sealedPrefix)
	// 768 bytes in are 1,024 out, whole base64 quanta: the pieces join up
	// into the encoding of the whole.
	var piece [1024]byte
	for rest := ct; len(rest) > 0; {
		n := min(len(rest), 768)
		base64.RawStdEncoding.Encode(piece[:], rest[:n])
		b.Write(piece[:base64.RawStdEncoding.EncodedLen(n)])
		rest = rest[n:]
	}
	if cap(ct) <= maxSealScratch {
		*bp = ct[:0]
		sealScratch.Put(bp)
	}
	return b.String()
}

// sealScratch holds ciphertexts on their way to base64 (seal); a buffer
// grown past maxSealScratch by a rare large payload is let go.
var sealScratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxSealScratch = 64 << 10

func (s sealer) open(stored string) ([]byte, error) {
	b64, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: not sealed", errUnsealable)
	}
	// As in seal: the ciphertext in a pooled buffer, the plaintext the one
	// allocation. Pieces of 1,024 characters are whole base64 quanta, so a
	// piece's error is the whole's.
	bp := sealScratch.Get().(*[]byte)
	ct := (*bp)[:0]
	var piece [1024]byte
	for rest := b64; len(rest) > 0; {
		n := copy(piece[:], rest)
		var err error
		if ct, err = base64.RawStdEncoding.AppendDecode(ct, piece[:n]); err != nil {
			return nil, fmt.Errorf("%w: %v", errUnsealable, err)
		}
		rest = rest[n:]
	}
	plain, err := s.aead.Open(nil, nil, ct, s.org)
	if cap(ct) <= maxSealScratch {
		*bp = ct[:0]
		sealScratch.Put(bp)
	}
	if err != nil {
		return nil, errUnsealable
	}
	return plain, nil
}
