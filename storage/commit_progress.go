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
	if p.Add > 0 {
		o.add("hincrby", key, "total", strconv.Itoa(p.Add))
		o.add("hset", key, "sender", p.Sender)
	}
	if p.Seal {
		o.add("hset", key, "sealed", "1")
	}
	if p.Invitation != "" && p.Outcome != "" {
		o.add("hcount", key, "i:"+p.Invitation, string(p.Outcome))
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = progressTTL
	}
	o.add("pexpire", key, strconv.FormatInt(ttl.Milliseconds(), 10))
}
