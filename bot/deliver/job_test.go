package deliver_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
)

// invitationJob is a job as an invitation queues it: the message with its
// fields, buttons and link, and the sender's three notices.
func invitationJob() deliver.Job {
	link := "https://usher.test/invitations/eQWasafbkgrfAmhx91DcjzX3Q2p1kD7Wo52C37zTwZg"
	return deliver.NewJob(handlers.Delivery{To: "user00842@corp.example", Kind: handlers.DeliverInvitation, InvitationID: "9m5s7z2u",
		Message:       handlerstest.InvitationMessage(),
		Sender:        "boss@hq.example",
		OnDelivered:   &handlers.Message{Text: "user00842@corp.example got the invitation in a direct message.", Tone: "success"},
		OnUnreachable: &handlers.Message{Text: "user00842@corp.example isn't in chat. Forward them this link:\n" + link, Tone: "warning"},
		OnEmailed:     &handlers.Message{Text: "user00842@corp.example was emailed the invitation.", Tone: "success"},
	}, deliver.Origin{Platform: "slack", Email: "boss@hq.example", UserID: "UBOSS", Workspace: "T1"})
}

// TestJobPayloadIsStandardJSON: the payload goccy/go-json writes is what
// encoding/json writes and reads (a replica of an older version, or any
// tool, reads the outbox with the standard library), and it reads back
// whole.
func TestJobPayloadIsStandardJSON(t *testing.T) {
	j := invitationJob()
	raw, err := j.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var ours, std any
	if err := json.Unmarshal(raw, &ours); err != nil {
		t.Fatalf("encoding/json cannot read the payload: %v\n%s", err, raw)
	}
	back, err := deliver.DecodeJob(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, j) {
		t.Fatalf("read back\n%+v\nwant\n%+v", back, j)
	}
	// The same job through encoding/json's own encoder of the same
	// document: equal as JSON values, and DecodeJob reads it alike.
	stdRaw, _ := json.Marshal(ours)
	if err := json.Unmarshal(stdRaw, &std); err != nil || !reflect.DeepEqual(ours, std) {
		t.Fatalf("not the same document: %v", err)
	}
	if back2, err := deliver.DecodeJob(stdRaw); err != nil || !reflect.DeepEqual(back2, j) {
		t.Fatalf("a payload encoding/json wrote: %+v, %v", back2, err)
	}
}

// BenchmarkJob: writing and reading an invitation's payload, with
// goccy/go-json (Encode, DecodeJob) and, in the same run, the standard
// library's encoding/json on the same document (the baseline).
func BenchmarkJob(b *testing.B) {
	j := invitationJob()
	raw, err := j.Encode()
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := deliver.DecodeJob(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := deliver.DecodeJobWith(json.Unmarshal, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := j.Encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := deliver.EncodeJobWith(json.Marshal, j); err != nil {
				b.Fatal(err)
			}
		}
	})
}
