// Package teamsapp is usher's Microsoft Teams app package: manifest.json (a
// template whose {{MICROSOFT_APP_ID}} is the bot's app id) and the two icons.
// `make teams-package` zips them with the app id filled in.
package teamsapp

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"time"
)

var (
	//go:embed manifest.json
	manifestTemplate []byte
	//go:embed color.png
	colorPNG []byte
	//go:embed outline.png
	outlinePNG []byte
)

// Placeholder is replaced by the app id.
const Placeholder = "{{MICROSOFT_APP_ID}}"

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Manifest returns manifest.json for the bot with app id appID.
func Manifest(appID string) ([]byte, error) {
	if !guid.MatchString(appID) {
		return nil, fmt.Errorf("app id %q is not a GUID (the Azure Bot's Microsoft App ID)", appID)
	}
	return bytes.ReplaceAll(manifestTemplate, []byte(Placeholder), []byte(appID)), nil
}

// Icons returns the colour (192x192) and outline (32x32) icons.
func Icons() (color, outline []byte) { return colorPNG, outlinePNG }

// Package returns the app package (a zip of manifest.json and the icons)
// to upload to Teams.
func Package(appID string) ([]byte, error) {
	m, err := Manifest(appID)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// A fixed time keeps the zip reproducible.
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []struct {
		name string
		data []byte
	}{{"manifest.json", m}, {"color.png", colorPNG}, {"outline.png", outlinePNG}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: when})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
