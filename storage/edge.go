package storage

import "github.com/redis/go-redis/v9"

// The chat adapters check some things before a request is routed to its
// organization, or key them by ids that are unique across every workspace
// and tenant: Slack's replay marks (a request's hash), click marks and
// response_url counts, and Teams' replay marks (an activity's hash). (Who a
// Slack user is, their email, is cached per organization, in its own
// SlackState: what one organization's workspace says of its people is
// that organization's.) They belong to no organization, so they live under
// no organization's hash tag, and each is a single key with a TTL:
//
//	usher:slack:KIND:ID       string  the Slack adapter's state (SlackState)
//	usher:teams:seen:HASH     string  a Teams activity already handled (TeamsState.FirstSeen)
//
// Without braces each key hashes on its whole name, so they spread over a
// Cluster; no organization's SCAN pattern (usher:{ID}:*) can reach them.
func edgeKeys() keys { return keys{prefix: "usher:"} }

// NewEdgeSlackState is the Slack adapter's state for the whole deployment.
func NewEdgeSlackState(rdb redis.UniversalClient) *SlackState {
	return &SlackState{rdb: rdb, keys: edgeKeys(), marks: marker{maxCalls: markCalls}}
}

// NewEdgeTeamsState is the Teams state for what is checked before an
// activity is routed: only its FirstSeen is deployment-wide (the rest of a
// TeamsState is an organization's people, see NewTeamsState).
func NewEdgeTeamsState(rdb redis.UniversalClient) *TeamsState {
	return &TeamsState{rdb: rdb, keys: edgeKeys(), marks: marker{maxCalls: markCalls}}
}
