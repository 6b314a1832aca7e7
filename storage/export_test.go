package storage

// GroupCommits sets how commits are grouped (group.go): at most calls script
// calls under way, at most batch commits per call.
func (s *Store) GroupCommits(calls, batch int) { s.group.maxCalls, s.group.maxBatch = calls, batch }

// MarkOnceWith is markOnce with the caller's nonce: a test plays go-redis
// re-sending the same SET NX.
var MarkOnceWith = markOnceWith

// PersonOrgsKey is the person index's key for email (people.go).
var PersonOrgsKey = personOrgs

// GroupMarks sets how the Slack state's replay marks are grouped (group.go).
func (s *SlackState) GroupMarks(calls, batch int) { s.marks.maxCalls, s.marks.maxBatch = calls, batch }
