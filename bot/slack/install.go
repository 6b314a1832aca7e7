package slack

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/handlers/org"
)

// InstallConfig wires the "Add to Slack" flow (distribution mode:
// SLACK_CLIENT_ID and SLACK_CLIENT_SECRET set).
type InstallConfig struct {
	ClientID, ClientSecret string
	// RedirectURL is this deployment's /slack/oauth_redirect, as the app's
	// manifest lists it (Slack compares them).
	RedirectURL string
	// Scopes are the bot scopes asked for (the manifest's).
	Scopes []string
	// APIURL is the Web API (SLACK_API_URL), AuthorizeURL Slack's consent page.
	APIURL, AuthorizeURL string
	Store                Installations
	// OnInstall runs once the installation is stored: linking it to an
	// organization, its first admin, the greeting. An *org.Error it returns
	// is shown to the installer; any other error is logged and a generic
	// page shown.
	OnInstall  func(ctx context.Context, inst Installation) (Installation, error)
	Logger     *slog.Logger
	HTTPClient *http.Client
	Now        func() time.Time
}

// Installer serves GET /slack/install and GET /slack/oauth_redirect.
type Installer struct{ cfg InstallConfig }

// stateCookie binds a state to the browser that asked for it: a state
// lifted from someone's URL is worthless in another browser.
const stateCookie = "usher_slack_oauth"

// NewInstaller checks cfg.
func NewInstaller(cfg InstallConfig) (*Installer, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("slack install: SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are needed")
	}
	if cfg.Store == nil {
		return nil, errors.New("slack install: no installation store")
	}
	if _, err := url.Parse(cfg.RedirectURL); err != nil || cfg.RedirectURL == "" {
		return nil, fmt.Errorf("slack install: redirect URL %q: want this deployment's https://HOST/slack/oauth_redirect", cfg.RedirectURL)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = slack.APIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.AuthorizeURL == "" {
		cfg.AuthorizeURL = "https://slack.com/oauth/v2/authorize"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Installer{cfg: cfg}, nil
}

// Routes mounts the two endpoints.
func (in *Installer) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /slack/install", in.serveInstall)
	mux.HandleFunc("GET /slack/oauth_redirect", in.serveRedirect)
}

func (in *Installer) secure() bool { return strings.HasPrefix(in.cfg.RedirectURL, "https://") }

// serveInstall mints a state, binds it to a cookie and shows the "Add to
// Slack" button, or goes straight to Slack with ?redirect=1.
func (in *Installer) serveInstall(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 32) // 256 bits
	rand.Read(b)
	state := base64.RawURLEncoding.EncodeToString(b)
	if err := in.cfg.Store.PutState(r.Context(), state); err != nil {
		in.cfg.Logger.Error("slack install: cannot store state", "err", err)
		in.page(w, http.StatusServiceUnavailable, "usher can't start the install right now", "Its database did not answer. Try again in a minute.", "")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/slack/", MaxAge: int(StateTTL / time.Second),
		HttpOnly: true, Secure: in.secure(), SameSite: http.SameSiteLaxMode})
	q := url.Values{"client_id": {in.cfg.ClientID}, "scope": {strings.Join(in.cfg.Scopes, ",")}, "redirect_uri": {in.cfg.RedirectURL}, "state": {state}}
	target := in.cfg.AuthorizeURL + "?" + q.Encode()
	if r.URL.Query().Get("redirect") != "" {
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	in.page(w, http.StatusOK, "Add usher to your Slack workspace", "usher will ask Slack for the permissions listed on the next page. Whoever installs it becomes the first admin of the workspace's organization.", target)
}

// failure is a refused redirect: what the installer reads, what the log says.
func (in *Installer) failure(w http.ResponseWriter, status int, reason, title, text string, attrs ...any) {
	in.cfg.Logger.Warn("slack install: refused", append([]any{"reason", reason}, attrs...)...)
	in.page(w, status, title, text, "")
}

func (in *Installer) serveRedirect(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	again := "Start again from this deployment's /slack/install page."
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			in.failure(w, http.StatusBadRequest, "access_denied", "usher was not installed", "You cancelled the install on Slack's page, so nothing was changed. "+again)
			return
		}
		in.failure(w, http.StatusBadRequest, "slack error", "usher was not installed", "Slack answered "+e+". "+again, "error", e)
		return
	}
	state := q.Get("state")
	if state == "" {
		in.failure(w, http.StatusBadRequest, "no state", "This install link is incomplete", "It carries no state. "+again)
		return
	}
	c, err := r.Cookie(stateCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		in.failure(w, http.StatusBadRequest, "state does not match the cookie", "This install was started in another browser",
			"Finish it in the browser where you clicked \"Add to Slack\", or "+strings.ToLower(again[:1])+again[1:])
		return
	}
	ok, err := in.cfg.Store.TakeState(r.Context(), state)
	if err != nil {
		in.cfg.Logger.Error("slack install: cannot check state", "err", err)
		in.page(w, http.StatusServiceUnavailable, "usher can't finish the install right now", "Its database did not answer. "+again, "")
		return
	}
	// The cookie has done its work whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/slack/", MaxAge: -1, HttpOnly: true, Secure: in.secure(), SameSite: http.SameSiteLaxMode})
	if !ok {
		in.failure(w, http.StatusBadRequest, "state expired or used", "This install link has expired or was already used",
			"An install must finish within 10 minutes of clicking \"Add to Slack\", once. "+again)
		return
	}
	code := q.Get("code")
	if code == "" {
		in.failure(w, http.StatusBadRequest, "no code", "This install link is incomplete", "Slack sent no code. "+again)
		return
	}
	resp, err := slack.GetOAuthV2ResponseContext(r.Context(), in.cfg.HTTPClient, in.cfg.ClientID, in.cfg.ClientSecret, code, in.cfg.RedirectURL,
		slack.OAuthOptionAPIURL(in.cfg.APIURL))
	if err != nil {
		in.failure(w, http.StatusBadGateway, "oauth.v2.access failed", "Slack did not complete the install", "Slack refused to exchange the install code ("+slackReason(err)+"). "+again, "err", slackReason(err))
		return
	}
	inst, err := in.verify(r.Context(), resp)
	if err != nil {
		in.failure(w, http.StatusBadGateway, "auth.test failed", "Slack did not complete the install", "The new token did not work ("+slackReason(err)+"). "+again, "err", slackReason(err))
		return
	}
	if err := in.cfg.Store.Save(r.Context(), inst); err != nil {
		in.cfg.Logger.Error("slack install: cannot store installation", "team", inst.Team, "enterprise", inst.Enterprise, "err", err)
		in.page(w, http.StatusServiceUnavailable, "usher can't finish the install right now", "Its database did not answer. "+again, "")
		return
	}
	if in.cfg.OnInstall != nil {
		if inst, err = in.cfg.OnInstall(r.Context(), inst); err != nil {
			// A refused install keeps no token: the workspace stays "not installed".
			if _, rerr := in.cfg.Store.Remove(r.Context(), inst.Enterprise, inst.Team); rerr != nil {
				in.cfg.Logger.Error("slack install: cannot drop a refused installation", "team", inst.Team, "enterprise", inst.Enterprise, "err", rerr)
			}
			var oe *org.Error
			if errors.As(err, &oe) {
				in.failure(w, http.StatusBadRequest, "refused", "usher is installed but not set up", oe.Error(), "team", inst.Team, "enterprise", inst.Enterprise, "err", err)
				return
			}
			in.cfg.Logger.Error("slack install: setting up the organization", "team", inst.Team, "enterprise", inst.Enterprise, "err", err)
			in.page(w, http.StatusInternalServerError, "usher is installed but not set up", "Something went wrong on usher's side; its operator can see it in the log. "+again, "")
			return
		}
		if err := in.cfg.Store.Save(r.Context(), inst); err != nil {
			in.cfg.Logger.Error("slack install: cannot store installation", "team", inst.Team, "err", err)
		}
	}
	in.cfg.Logger.Info("slack install: installed", "team", inst.Team, "enterprise", inst.Enterprise, "installer", inst.Installer, "org", string(inst.Org))
	if inst.Team == "" && inst.Enterprise != "" && inst.AppID != "" {
		// An org-wide install is in no workspace yet: Slack's guide for
		// org-wide apps sends the installing admin to its page for adding
		// the app to workspaces (api.slack.com/enterprise/apps/reference).
		http.Redirect(w, r, AddToWorkspacesURL(inst.Enterprise, inst.AppID), http.StatusFound)
		return
	}
	name := inst.TeamName
	if name == "" {
		name = "your workspace"
	}
	in.page(w, http.StatusOK, "usher is installed in "+name, "Open Slack: usher sent you a direct message with what to do next.", "")
}

// AddToWorkspacesURL is Slack's page where an Enterprise Grid admin adds
// an org-wide app to the organization's workspaces.
func AddToWorkspacesURL(enterprise, appID string) string {
	return "https://app.slack.com/manage/" + url.PathEscape(enterprise) + "/integrations/profile/" + url.PathEscape(appID) + "/workspaces/add"
}

// verify checks the new bot token with auth.test and builds the record.
func (in *Installer) verify(ctx context.Context, resp *slack.OAuthV2Response) (Installation, error) {
	if resp.AccessToken == "" {
		return Installation{}, errors.New("no bot token in the answer")
	}
	api := slack.New(resp.AccessToken, slack.OptionAPIURL(in.cfg.APIURL), slack.OptionHTTPClient(in.cfg.HTTPClient))
	at, err := api.AuthTestContext(ctx)
	if err != nil {
		return Installation{}, err
	}
	inst := Installation{
		Enterprise: resp.Enterprise.ID, Team: resp.Team.ID, TeamName: resp.Team.Name, BotUserID: resp.BotUserID, AppID: resp.AppID,
		Installer: resp.AuthedUser.ID, Installed: in.cfg.Now().UTC(), BotToken: resp.AccessToken, RefreshToken: resp.RefreshToken,
	}
	if resp.IsEnterpriseInstall {
		inst.Team, inst.TeamName = "", resp.Enterprise.Name
	} else if at.TeamID != resp.Team.ID {
		return Installation{}, fmt.Errorf("token is for team %s, not %s", at.TeamID, resp.Team.ID)
	}
	if inst.BotUserID == "" {
		inst.BotUserID = at.UserID
	}
	for _, s := range strings.Split(resp.Scope, ",") {
		if s = strings.TrimSpace(s); s != "" {
			inst.Scopes = append(inst.Scopes, s)
		}
	}
	if resp.ExpiresIn > 0 {
		inst.Expires = inst.Installed.Add(time.Duration(resp.ExpiresIn) * time.Second)
	}
	return inst, nil
}

// slackReason is Slack's error code ("invalid_code") or a short cause,
// never a token.
func slackReason(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	var he slack.StatusCodeError
	if errors.As(err, &he) {
		return fmt.Sprintf("HTTP %d", he.Code)
	}
	return "Slack could not be reached"
}

var installPage = template.Must(template.New("install").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · usher</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
a.add{display:inline-block;padding:.6rem 1.2rem;border-radius:.4rem;background:#4a154b;color:#fff;text-decoration:none}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Target}}<p><a class="add" href="{{.Target}}">Add to Slack</a></p>{{end}}
</body></html>
`))

func (in *Installer) page(w http.ResponseWriter, status int, title, text, target string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := installPage.Execute(w, struct{ Title, Text, Target string }{title, text, target}); err != nil {
		in.cfg.Logger.Warn("slack install: writing page", "err", err)
	}
}
