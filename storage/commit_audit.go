package storage

import (
	"strconv"

	"github.com/usher-chat/usher/handlers/org"
)

// commitAudit records the change's audit entries, in a stream trimmed to
// about AuditMaxLen.
func commitAudit(o *ops, k keys, entries []org.AuditEntry) {
	for _, e := range entries {
		o.add("xadd", k.audit(), append([]string{strconv.Itoa(AuditMaxLen)}, auditFields(e)...)...)
	}
}

// commitMessages queues the change's chat messages in the outbox, sealed, so
// that a change and what it tells people are stored together or not at all.
func commitMessages(o *ops, k keys, msgs []org.QueuedMessage, seal sealer) {
	for _, m := range msgs {
		// The commit's id already keeps a re-sent commit from queuing twice.
		// outbox2, never the legacy stream: old replicas must not claim it (outbox.go).
		o.add("xaddq", k.outbox2(), jobFields(Job{Platform: m.Platform, Channel: m.Channel, Payload: m.Payload}, seal)...)
	}
}
