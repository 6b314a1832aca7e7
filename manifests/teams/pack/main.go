// Command pack writes usher's Teams app package: manifest.json with the app
// id filled in, and the two icons, zipped. `make teams-package` runs it:
//
//	go run ./manifests/teams/pack -app-id $MICROSOFT_APP_ID -o dist/usher-teams.zip
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	teamsapp "github.com/usher-chat/usher/manifests/teams"
)

func main() {
	appID := flag.String("app-id", os.Getenv("MICROSOFT_APP_ID"), "the Azure Bot's Microsoft App ID (default $MICROSOFT_APP_ID)")
	out := flag.String("o", "dist/usher-teams.zip", "where to write the package")
	flag.Parse()
	zip, err := teamsapp.Package(*appID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "teams-package:", err, "\nusage: make teams-package MICROSOFT_APP_ID=<app id>")
		os.Exit(2)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "teams-package:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, zip, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "teams-package:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", *out, "- upload it in Teams: Apps > Manage your apps > Upload an app")
}
