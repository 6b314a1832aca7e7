package storage

import (
	"strconv"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// progressTTL is how long a progress record outlives its last change when
// the change names none: longer than any delivery of its invitations takes.
const progressTTL = 7 * 24 * time.Hour

// commitProgress counts into a bulk invitation's progress record in the
// same step as the invitations it counts (a batch adds its own to the
// total, so a batch refused adds nothing) or the delivery it records.
func commitProgress(o *ops, k keys, p *org.ProgressWrite) {
	if p == nil || p.ID == "" {
		return
	}
	key := k.progress(p.ID)
	list := k.progressUnreachable(p.ID)
	if p.Add > 0 {
		o.add("hincrby", key, "total", strconv.Itoa(p.Add))
		o.add("hset", key, "sender", p.Sender)
		if p.NoLinks {
			o.add("hset", key, "nolinks", "1")
		}
	}
	if p.Seal {
		o.add("hset", key, "sealed", "1")
	}
	settles := p.Invitation != "" && p.Outcome != ""
	if settles {
		if p.Outcome == org.ProgressUnreachable {
			// Listed for "Show their links" in the step that counts it:
			// the list and the count never disagree.
			o.add("hcount", key, "i:"+p.Invitation, string(p.Outcome), strconv.Itoa(o.key(list)), p.Invitation)
		} else {
			o.add("hcount", key, "i:"+p.Invitation, string(p.Outcome))
		}
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = progressTTL
	}
	ms := strconv.FormatInt(ttl.Milliseconds(), 10)
	o.add("pexpire", key, ms)
	if settles {
		// The list lives as long as its record (a no-op while it is empty).
		o.add("pexpire", list, ms)
	}
}
