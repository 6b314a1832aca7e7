package storage

import (
	"slices"
	"strconv"
	"time"
)

// ops collects a script's operations (lua/ops.lua), naming each key by its
// index in KEYS, flat: name, key index, argument count, arguments. Load
// sends them to read.lua, Commit to apply.lua; for apply, ops also keeps
// what the script's reply cannot say by itself: each guard's refusal and
// each change's commit id.
type ops struct {
	keys []string
	args []any
	n    int // operations

	guards []guard  // in op order
	ids    []string // each change's commit id key, in order
}

// A guard is a check apply.lua runs before any write of its change; when it
// fails the script answers with the guard's op number and what Redis holds
// instead, and refuse turns that into the change's error. Each guard is
// declared with its refusal where its op is built (commit_*.go), so no
// label has to be parsed back into an error.
type guard struct {
	op      int // the op's number in the call, counted from 1 as apply.lua does
	refuse  refusal
	subject string // what refuse names: a user, a workspace, the state read
}

// refusal makes the error a change is refused with, from the guard's subject
// and what Redis holds where the guard expected something else. Refusals are
// plain functions (stale, lastAdmin, ...), not closures, so that declaring a
// guard costs no allocation beyond its subject.
type refusal func(subject, actual string) error

// sep separates one change from the next (apply.lua applies each on its own).
func (o *ops) sep() {
	o.args = append(o.args, "|", 0, 0)
	o.n++
}

func (o *ops) add(op, key string, args ...string) {
	i := o.key(key)
	if o.args == nil {
		o.args = make([]any, 0, 128) // a typical commit's size: grown once, not six times
	}
	o.args = append(o.args, op, i, len(args))
	for _, a := range args {
		o.args = append(o.args, a)
	}
	o.n++
}

// key is key's index in KEYS (from 1, as Lua counts), added when new: an
// op that touches a second key names it by this index among its arguments,
// so that the key is declared to Redis (Cluster routes by KEYS).
func (o *ops) key(key string) int {
	i := slices.Index(o.keys, key) + 1 // a handful of keys: a scan beats a map
	if i == 0 {
		o.keys = append(o.keys, key)
		i = len(o.keys)
	}
	return i
}

// guard adds a guard op; refuse(subject, actual) is what its failure
// refuses the change with.
func (o *ops) guard(refuse refusal, subject string, op, key string, args ...string) {
	if o.guards == nil {
		o.guards = make([]guard, 0, 8) // an invitation's commit has ~6
	}
	o.guards = append(o.guards, guard{op: o.n + 1, refuse: refuse, subject: subject})
	o.add(op, key, args...)
}

// once starts a change with its commit id (see Store.build): apply.lua
// reports a change whose id exists as done without running it again, and
// writes the id, to live for lifetime, with the change's writes.
func (o *ops) once(key string, lifetime time.Duration) {
	o.ids = append(o.ids, key)
	o.add("once", key, strconv.FormatInt(lifetime.Milliseconds(), 10))
}

// mark and reset take back the ops added since mark (a change that turned
// out to change nothing).
type opsMark struct{ args, n, guards, ids int }

func (o *ops) mark() opsMark { return opsMark{len(o.args), o.n, len(o.guards), len(o.ids)} }

func (o *ops) reset(m opsMark) {
	o.args, o.n, o.guards, o.ids = o.args[:m.args], m.n, o.guards[:m.guards], o.ids[:m.ids]
}

// guardAt is the guard that is op number op, or nil.
func (o *ops) guardAt(op int) *guard {
	i, found := slices.BinarySearchFunc(o.guards, op, func(g guard, op int) int { return g.op - op })
	if !found {
		return nil
	}
	return &o.guards[i]
}
