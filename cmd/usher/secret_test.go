package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDeploymentSecret(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	long, other := strings.Repeat("s", 40), strings.Repeat("o", 40)

	s, problems := loadSecret(env())
	if len(problems) > 0 || !s.generated || len(s.value) != 32 {
		t.Fatalf("unset: %+v %v", s, problems)
	}
	s, problems = loadSecret(env("USHER_SECRET", long, "USHER_WEB_SECRET", other))
	if len(problems) > 0 || s.generated || string(s.value) != long || s.name != "USHER_SECRET" {
		t.Fatalf("USHER_SECRET does not win: %+v %v", s, problems)
	}
	s, problems = loadSecret(env("USHER_WEB_SECRET", other))
	if len(problems) > 0 || string(s.value) != other || s.name != "USHER_WEB_SECRET" {
		t.Fatalf("the older name is not read: %+v %v", s, problems)
	}
	for _, name := range []string{"USHER_SECRET", "USHER_WEB_SECRET"} {
		if _, problems = loadSecret(env(name, "short")); len(problems) != 1 || !strings.Contains(problems[0], name) {
			t.Errorf("a short %s: %v", name, problems)
		}
	}

	// Each use has its own key, stable for a secret and different between
	// secrets; a message sealed under one secret opens under the same one only.
	a, b := deploymentSecret{value: []byte(long)}, deploymentSecret{value: []byte(other)}
	if bytes.Equal(a.csrfKey(), []byte(long)) || !bytes.Equal(a.csrfKey(), a.csrfKey()) || bytes.Equal(a.csrfKey(), b.csrfKey()) {
		t.Error("the CSRF key is not derived from the secret")
	}
	sealed := a.sealKey().Seal(nil, nil, []byte("link"), nil)
	if _, err := a.sealKey().Open(nil, nil, sealed, nil); err != nil {
		t.Errorf("the same secret does not open its own message: %v", err)
	}
	if _, err := b.sealKey().Open(nil, nil, sealed, nil); err == nil {
		t.Error("another secret opens the message")
	}
}
