package org_test

import (
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

func TestNearest(t *testing.T) {
	have := []string{"billing", "fraud-models", "eng"}
	for typed, want := range map[string]string{
		"fraud-modles": "fraud-models", // a swapped pair
		"fraud-model":  "fraud-models",
		"bililng":      "billing",
		"eng":          "", // the name itself is no suggestion
		"egn":          "", // two edits in a short name is not a typo
		"marketing":    "",
		"":             "",
	} {
		if got := org.Nearest(typed, have); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", typed, got, want)
		}
	}
}
