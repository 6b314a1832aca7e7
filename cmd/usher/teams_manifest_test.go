package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers"
	teamsapp "github.com/usher-chat/usher/manifests/teams"
)

// registryOnly is enough of a store to build the command registry.
type registryOnly struct{ handlers.Store }

// TestTeamsManifest: the package holds the manifest with the app id filled
// in and the icons Teams requires (color 192x192; outline 32x32, white on
// transparent), and every command it lists is one usher knows. The schema
// validation itself runs in Node (scripts/test.d/60-teams.sh): the 1.23+
// schemas use regexp lookaheads Go's RE2 cannot compile.
func TestTeamsManifest(t *testing.T) {
	const app = "11111111-2222-3333-4444-555555555555"
	if _, err := teamsapp.Package("not-a-guid"); err == nil {
		t.Fatal("packaged with a bad app id")
	}
	z, err := teamsapp.Package(app)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	if len(files) != 3 {
		t.Fatalf("package holds %d files", len(files))
	}
	var m struct {
		ID   string `json:"id"`
		Bots []struct {
			BotID        string `json:"botId"`
			CommandLists []struct {
				Commands []struct{ Title, Description string } `json:"commands"`
			} `json:"commandLists"`
		} `json:"bots"`
		Icons struct{ Color, Outline string } `json:"icons"`
	}
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if m.ID != app || m.Bots[0].BotID != app || strings.Contains(string(files["manifest.json"]), "{{") {
		t.Fatalf("app id not filled in: %s", files["manifest.json"])
	}
	svc, err := handlers.New(handlers.Config{Store: registryOnly{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Bots[0].CommandLists[0].Commands {
		if _, ok := svc.Registry().Lookup(c.Title); !ok {
			t.Errorf("the manifest lists %q, which usher does not know", c.Title)
		}
		if len(c.Title) > 32 || len(c.Description) > 128 {
			t.Errorf("command %q is too long for Teams", c.Title)
		}
	}
	for name, size := range map[string]int{m.Icons.Color: 192, m.Icons.Outline: 32} {
		img, err := png.Decode(bytes.NewReader(files[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("%s is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), size, size)
		}
	}
	outline, _ := png.Decode(bytes.NewReader(files[m.Icons.Outline]))
	transparent, white := 0, 0
	for y := range 32 {
		for x := range 32 {
			r, g, b, a := outline.At(x, y).RGBA()
			switch {
			case a == 0:
				transparent++
			case r == a && g == a && b == a: // white, premultiplied
				white++
			default:
				t.Fatalf("outline pixel (%d,%d) is neither white nor transparent", x, y)
			}
		}
	}
	if transparent == 0 || white == 0 {
		t.Fatalf("outline: %d transparent, %d white pixels", transparent, white)
	}
}
