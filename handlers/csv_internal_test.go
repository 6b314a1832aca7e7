package handlers

import (
	"encoding/csv"
	"strings"
	"testing"
)

// TestWriteCSVDefusesFormulas: a cell a spreadsheet would run as a formula
// is written with a leading apostrophe; quoting stays encoding/csv's.
func TestWriteCSVDefusesFormulas(t *testing.T) {
	for _, cell := range []string{"=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", `=HYPERLINK("https://evil","x")`} {
		data, err := writeCSV([][]string{{cell, "ok", "a,b"}})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if rows[0][0] != "'"+strings.ReplaceAll(cell, "\r", "\n") && rows[0][0] != "'"+cell || rows[0][1] != "ok" || rows[0][2] != "a,b" {
			t.Errorf("%q -> %q", cell, rows[0])
		}
	}
	for _, cell := range []string{"", "bob@x.com", "a=b", "1-2"} {
		if got := defuse(cell); got != cell {
			t.Errorf("%q changed to %q", cell, got)
		}
	}
}
