package shell

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kballard/go-shellquote"
)

// maxListFile bounds what `invite --file PATH` reads: 1,000 addresses of
// 254 characters at most, with their separators, and room to spare.
const maxListFile = 1 << 20

// withFile spells out `invite ... --file PATH` (the shell's own flag: a
// chat has no files to name) as the command with the file's text as one
// more argument, which the invite command reads as a pasted list. Any other
// command is returned as it is.
func withFile(text string) (string, error) {
	words, err := shellquote.Split(text)
	if err != nil || len(words) == 0 || words[0] != "invite" {
		return text, nil // the command language reports its own errors
	}
	out := make([]string, 0, len(words))
	found := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		path, ok := strings.CutPrefix(w, "--file=")
		if !ok && w == "--file" {
			if i+1 >= len(words) {
				return "", errors.New("--file needs a path: invite --file PATH")
			}
			i++
			path, ok = words[i], true
		}
		if !ok {
			out = append(out, w)
			continue
		}
		if found {
			return "", errors.New("--file may be given once")
		}
		found = true
		list, err := readList(path)
		if err != nil {
			return "", err
		}
		out = append(out, list)
	}
	if !found {
		return text, nil
	}
	return shellquote.Join(out...), nil
}

func readList(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("can't read the list: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxListFile+1))
	if err != nil {
		return "", fmt.Errorf("can't read the list: %w", err)
	}
	if len(b) > maxListFile {
		return "", fmt.Errorf("%s is over %d bytes; a list of 1,000 addresses is far shorter", path, maxListFile)
	}
	return string(b), nil
}
