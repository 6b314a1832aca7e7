package main

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/usher-chat/usher/bot/web"
	"github.com/usher-chat/usher/storage"
)

// The deployment secret (USHER_SECRET) keys what every replica must agree
// on: the web forms' CSRF tokens and the sealing of queued chat messages,
// which carry invitation links and temporary passwords (storage/seal.go).
// Each use gets its own key derived from it, so neither can stand in for the
// other. USHER_WEB_SECRET, its name when it only keyed the web forms, is
// still read.
type deploymentSecret struct {
	value     []byte
	name      string // the variable it came from
	generated bool   // neither is set: a random one for this process
}

func loadSecret(getenv func(string) string) (deploymentSecret, []string) {
	for _, name := range []string{"USHER_SECRET", "USHER_WEB_SECRET"} {
		if v := getenv(name); v != "" {
			s := deploymentSecret{value: []byte(v), name: name}
			if len(v) < web.MinSecret {
				return s, []string{fmt.Sprintf("%s has %d characters; use at least %d random ones (e.g. openssl rand -base64 48)", name, len(v), web.MinSecret)}
			}
			return s, nil
		}
	}
	s := deploymentSecret{value: make([]byte, 32), name: "USHER_SECRET", generated: true}
	rand.Read(s.value) // never fails (crypto/rand panics rather than return an error)
	return s, nil
}

// csrfKey keys the web forms' CSRF tokens.
func (s deploymentSecret) csrfKey() []byte {
	k, err := hkdf.Key(sha256.New, s.value, nil, "usher web csrf v1", 32)
	if err != nil {
		panic(err) // only for a length over 255 hash sizes
	}
	return k
}

// sealKey seals queued chat messages; nil without a secret (a config built
// in a test), which leaves storage its own per-process key.
func (s deploymentSecret) sealKey() cipher.AEAD {
	if s.value == nil {
		return nil
	}
	k, err := storage.NewSealKey(s.value)
	if err != nil {
		panic(err) // only for an empty value
	}
	return k
}
