package teams

import (
	"testing"
	"time"
)

// TestLimitsKeepBelowPublished: every budget lets at most Burst +
// Period/Every calls into any of its Periods (a GCRA's bound), which is at
// least one, and a tenth, below Microsoft's published limit, scaled or not.
func TestLimitsKeepBelowPublished(t *testing.T) {
	for _, f := range []float64{1, 10} {
		l := DefaultLimits().Scaled(f)
		check := func(w Window, b Budget) {
			// Every is rounded up to whole milliseconds by storage, which only lowers the bound.
			bound := float64(b.Burst) + float64(w.Period)/float64(b.Every)
			if keep := float64(w.Ops - max(1, w.Ops/10)); bound > keep+1e-9 {
				t.Errorf("scale %g: %d in %s: the budget (burst %d, every %s) lets %.2f through", f, w.Ops, w.Period, b.Burst, b.Every, bound)
			}
		}
		bs := l.thread("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "conv", "a:1xyz;messageid=1")
		check(l.Tenant, bs[0])
		for i, w := range l.Thread {
			check(w, bs[1+i])
		}
		if got := l.Thread[3].Period; got != time.Duration(float64(time.Hour)/f) {
			t.Errorf("scale %g: the hour window is %s", f, got)
		}
	}
}
