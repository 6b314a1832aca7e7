package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/usher-chat/usher/handlers"
)

// Rendered is a message as an email's subject and its two parts.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// Render turns the reply model into an email. Buttons cannot run commands
// from a mailbox, so they are left out; the message's Link is the call to
// action. The HTML part goes through html/template: every piece of user
// text (a note, a name, a workspace) is escaped.
func Render(m handlers.Message) (Rendered, error) {
	if m.Link != nil && m.Link.URL != "" && strings.Contains(m.Footer, m.Link.URL) {
		// Chat shows no Link, so its footer repeats the address ("Or open
		// … in a browser"); the email already offers it twice.
		m.Footer = ""
	}
	subject := oneLine(m.Title)
	if subject == "" {
		subject = oneLine(firstLine(m.Text))
	}
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, m); err != nil {
		return Rendered{}, fmt.Errorf("render text part: %w", err)
	}
	if err := htmlTmpl.Execute(&html, m); err != nil {
		return Rendered{}, fmt.Errorf("render HTML part: %w", err)
	}
	return Rendered{Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

// oneLine is s fit for a header: line breaks and other control characters
// become spaces (no header injection), runs of space one.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

const textSource = `{{with .Title}}{{.}}

{{end}}{{with .Text}}{{.}}

{{end}}{{range .Fields}}{{.Label}}: {{.Value}}
{{end}}{{if .Fields}}
{{end}}{{range .Items}}- {{.Text}}
{{range .Fields}}  {{.Label}}: {{.Value}}
{{end}}{{end}}{{if .Items}}
{{end}}{{with .Link}}{{.Label}}: {{.URL}}

{{end}}{{with .Footer}}{{.}}
{{end}}`

const htmlSource = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; line-height: 1.4; max-width: 40em">
{{with .Title}}<h1 style="font-size: 1.3em">{{.}}</h1>
{{end}}{{with .Text}}<p>{{lines .}}</p>
{{end}}{{with .Fields}}<table>
{{range .}}<tr><th align="left" style="padding-right: 1em">{{.Label}}</th><td>{{lines .Value}}</td></tr>
{{end}}</table>
{{end}}{{with .Items}}<ul>
{{range .}}<li>{{lines .Text}}{{range .Fields}}<br>{{.Label}}: {{.Value}}{{end}}</li>
{{end}}</ul>
{{end}}{{with .Link}}<p><a href="{{.URL}}" style="display: inline-block; padding: 0.6em 1.2em; background: #1264a3; color: #ffffff; text-decoration: none; border-radius: 4px">{{.Label}}</a></p>
<p style="font-size: 0.9em">Or copy this address into a browser: {{.URL}}</p>
{{end}}{{with .Footer}}<p style="color: #616061; font-size: 0.9em">{{lines .}}</p>
{{end}}</body></html>
`

var (
	textTmpl = texttemplate.Must(texttemplate.New("text").Parse(textSource))
	htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Funcs(htmltemplate.FuncMap{
		// lines escapes s and keeps its line breaks.
		"lines": func(s string) htmltemplate.HTML {
			parts := strings.Split(s, "\n")
			for i, p := range parts {
				parts[i] = htmltemplate.HTMLEscapeString(p)
			}
			return htmltemplate.HTML(strings.Join(parts, "<br>\n"))
		},
	}).Parse(htmlSource))
)
