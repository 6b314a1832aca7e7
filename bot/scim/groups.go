package scim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/usher-chat/usher/handlers/org"
)

// A group is a workspace; its members are the users with access to it.
// Its SCIM id is made from what a rename keeps (creator and creation time),
// so a provider's id outlives the renames it sends.
func groupID(ws org.Workspace) string {
	sum := sha256.Sum256([]byte(ws.Creator + "|" + strconv.FormatInt(ws.Created.UnixMilli(), 10)))
	return hex.EncodeToString(sum[:10])
}

type groups struct{ s *Server }

// withMembers reports whether the request wants members: Entra asks with
// excludedAttributes=members when it only needs the group, which then
// costs no read of the users.
func withMembers(r *http.Request) bool {
	for _, a := range strings.Split(r.URL.Query().Get("excludedAttributes"), ",") {
		if strings.EqualFold(strings.TrimSpace(a), "members") {
			return false
		}
	}
	return true
}

func (h groups) resource(ws org.Workspace, members []*org.User, with bool) scim.Resource {
	attrs := scim.ResourceAttributes{"displayName": ws.Name}
	if with {
		ms := make([]any, 0, len(members))
		for _, u := range members {
			ms = append(ms, map[string]any{"value": userID(u.Email), "display": u.Display(), "type": "User"})
		}
		attrs["members"] = ms
	}
	created := ws.Created
	return scim.Resource{ID: groupID(ws), Attributes: attrs, Meta: scim.Meta{Created: &created, LastModified: &created}}
}

func (h groups) all(r *http.Request, with bool) ([]org.Workspace, map[string][]*org.User, error) {
	ws, by, err := state(r).svc.ProvidedWorkspaces(r.Context(), with)
	if err != nil {
		return nil, nil, fail(r, h.s.log, err)
	}
	return ws, by, nil
}

// find is the group id; with its members, read in a second round trip
// that reads only the users with access to it.
func (h groups) find(r *http.Request, id string, with bool) (org.Workspace, []*org.User, error) {
	ws, _, err := h.all(r, false)
	if err != nil {
		return org.Workspace{}, nil, err
	}
	for _, w := range ws {
		if groupID(w) != id {
			continue
		}
		if !with {
			return w, nil, nil
		}
		ms, err := state(r).svc.ProvidedWorkspaceMembers(r.Context(), w.Name)
		if err != nil {
			return org.Workspace{}, nil, fail(r, h.s.log, err)
		}
		return w, ms, nil
	}
	return org.Workspace{}, nil, scimerr.ScimErrorResourceNotFound(id)
}

func (h groups) Get(r *http.Request, id string) (scim.Resource, error) {
	with := withMembers(r)
	ws, ms, err := h.find(r, id, with)
	if err != nil {
		return scim.Resource{}, err
	}
	return h.resource(ws, ms, with), nil
}

// GetAll lists workspaces oldest first. A filter is checked on each (an
// organization has few), except Okta's displayName eq "X" before it creates
// a group, which names one: only that group's members are read then.
func (h groups) GetAll(r *http.Request, p scim.ListRequestParams) (scim.Page, error) {
	with := withMembers(r)
	ws, _, err := h.all(r, false)
	if err != nil {
		return scim.Page{}, err
	}
	_, name, anchored := "", "", false
	if p.FilterValidator != nil {
		_, name, anchored = groupAnchor(p)
	}
	if anchored {
		ws = slices.DeleteFunc(ws, func(w org.Workspace) bool { return !nameMatches(name, w) })
	}
	// A filter on members needs them even when they are not shown.
	need := with || p.FilterValidator != nil && strings.Contains(strings.ToLower(r.URL.Query().Get("filter")), "members")
	by := map[string][]*org.User{}
	switch {
	case !need || len(ws) == 0:
	case len(ws) == 1:
		ms, err := state(r).svc.ProvidedWorkspaceMembers(r.Context(), ws[0].Name)
		if err != nil {
			return scim.Page{}, fail(r, h.s.log, err)
		}
		by[ws[0].Name] = ms
	default:
		if _, by, err = h.all(r, true); err != nil {
			return scim.Page{}, err
		}
	}
	var match []scim.Resource
	for _, w := range ws {
		if p.FilterValidator != nil && !anchored && !passes(p.FilterValidator, h.resource(w, by[w.Name], true)) {
			continue
		}
		match = append(match, h.resource(w, by[w.Name], with))
	}
	page := scim.Page{TotalResults: len(match)}
	from := min(max(p.StartIndex-1, 0), len(match))
	to := min(from+p.Count, len(match))
	page.Resources = match[from:to]
	return page, nil
}

// nameMatches lets Okta's displayName eq "Fraud Models" find the workspace
// fraud-models it was created as (org.WorkspaceNameFor); any case.
func nameMatches(display string, w org.Workspace) bool {
	name, err := org.WorkspaceNameFor(display)
	return err == nil && name == w.Name || strings.EqualFold(display, w.Name)
}

// groupAnchor is the name of a filter that is exactly displayName eq "X".
func groupAnchor(p scim.ListRequestParams) (string, string, bool) {
	x, ok := p.FilterValidator.GetFilter().(*filter.AttributeExpression)
	if !ok || x.Operator != filter.EQ || !strings.EqualFold(x.AttributePath.AttributeName, "displayName") || x.AttributePath.SubAttribute != nil {
		return "", "", false
	}
	v, ok := x.CompareValue.(string)
	return "displayname", v, ok
}

// memberEmails reads members values (user ids) as emails.
func memberEmails(v any) ([]string, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		list = x
	case map[string]any:
		list = []any{x}
	default:
		return nil, badValue("members must be a list of {\"value\": USER_ID}.")
	}
	var out []string
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, badValue("members must be a list of {\"value\": USER_ID}.")
		}
		val, _ := get(m, "value")
		id, _ := str(val)
		email, ok := emailOf(id)
		if !ok {
			return nil, badValue(fmt.Sprintf("member %q is not a user id of this organization.", id))
		}
		out = append(out, email)
	}
	return out, nil
}

func badValue(detail string) error {
	return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: detail}
}

func (h groups) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	st := state(r)
	v, _ := get(attrs, "displayName")
	name, _ := str(v)
	mv, _ := get(attrs, "members")
	members, err := memberEmails(mv)
	if err != nil {
		return scim.Resource{}, err
	}
	ws, ds, err := st.svc.ProvisionWorkspace(r.Context(), st.who, name, members)
	if err != nil {
		return scim.Resource{}, fail(r, h.s.log, err)
	}
	tell(r, h.s.log, ds)
	w, ms, err := h.find(r, groupID(ws), true)
	if err != nil {
		return scim.Resource{}, err
	}
	return h.resource(w, ms, true), nil
}

// Replace is a PUT: the name and exactly the members given.
func (h groups) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	ws, ms, err := h.find(r, id, true)
	if err != nil {
		return scim.Resource{}, err
	}
	v, _ := get(attrs, "displayName")
	name, _ := str(v)
	mv, _ := get(attrs, "members")
	want, err := memberEmails(mv)
	if err != nil {
		return scim.Resource{}, err
	}
	d := newDesired(ms, true)
	d.replace(want)
	if err := h.change(r, ws, name, d); err != nil {
		return scim.Resource{}, err
	}
	with := withMembers(r)
	w, after, err := h.find(r, id, with)
	if err != nil {
		return scim.Resource{}, err
	}
	return h.resource(w, after, with), nil
}

// desired is what a request says of each member, in its order (RFC 7644
// 3.5.2: operations apply in sequence, so a later one wins).
// Without the members read (known false), every add and remove named is
// passed on, and ProvideMembers leaves out those already so.
type desired struct {
	known bool
	cur   map[string]bool
	want  map[string]bool
}

func newDesired(ms []*org.User, known bool) *desired {
	d := &desired{known: known, cur: map[string]bool{}, want: map[string]bool{}}
	for _, u := range ms {
		d.cur[u.Email] = true
	}
	return d
}

func (d *desired) set(es []string, in bool) {
	for _, e := range es {
		d.want[e] = in
	}
}

func (d *desired) replace(es []string) {
	for e := range d.cur {
		d.want[e] = false
	}
	for e := range d.want {
		d.want[e] = false
	}
	d.set(es, true)
}

func (d *desired) diff() (add, remove []string) {
	for e, in := range d.want {
		switch {
		case in && (!d.known || !d.cur[e]):
			add = append(add, e)
		case !in && (!d.known || d.cur[e]):
			remove = append(remove, e)
		}
	}
	slices.Sort(add)
	slices.Sort(remove)
	return add, remove
}

// change renames ws (when name is not "") and makes its members what d says.
func (h groups) change(r *http.Request, ws org.Workspace, name string, d *desired) error {
	st := state(r)
	cur := ws.Name
	if name != "" && name != ws.Name {
		to, ds, err := st.svc.RenameProvidedWorkspace(r.Context(), st.who, ws.Name, name)
		if err != nil {
			return fail(r, h.s.log, err)
		}
		tell(r, h.s.log, ds)
		cur = to
	}
	add, remove := d.diff()
	if len(add) > 0 || len(remove) > 0 {
		ds, err := st.svc.ProvideMembers(r.Context(), st.who, cur, add, remove)
		if err != nil {
			return fail(r, h.s.log, err)
		}
		tell(r, h.s.log, ds)
	}
	return nil
}

// Patch takes members and renames in the forms both providers send:
//   - Okta: {"op":"add","path":"members","value":[{"value":ID}]},
//     {"op":"remove","path":"members[value eq \"ID\"]"}, and a rename as
//     {"op":"replace","value":{"id":ID,"displayName":NAME}} (elimity/scim drops the id);
//   - Entra: {"op":"Add"|"Remove","path":"members","value":[{"value":ID}]}
//     (removal by a value array, not a path filter) and
//     {"op":"Replace","path":"displayName","value":NAME}.
//
// It answers 204 No Content, as both providers' documentation shows for a
// group PATCH, so that it reads the members (every user's access) only when
// an operation needs them: a replace of the list, or a removal of everyone.
func (h groups) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	need := slices.ContainsFunc(ops, needsMembers)
	ws, ms, err := h.find(r, id, need)
	if err != nil {
		return scim.Resource{}, err
	}
	var name string
	d := newDesired(ms, need)
	for _, op := range ops {
		attr := ""
		if op.Path != nil {
			attr = strings.ToLower(op.Path.AttributePath.AttributeName)
		}
		switch {
		case op.Path == nil:
			m, ok := op.Value.(map[string]any)
			if !ok {
				return scim.Resource{}, badValue("A PATCH operation without a path needs an object of attributes as its value.")
			}
			if v, ok := get(m, "displayName"); ok {
				name, _ = str(v)
			}
			if v, ok := get(m, "members"); ok {
				es, err := memberEmails(v)
				if err != nil {
					return scim.Resource{}, err
				}
				if op.Op == scim.PatchOperationReplace {
					d.replace(es)
				} else {
					d.set(es, true)
				}
			}
		case attr == "displayname":
			if op.Op == scim.PatchOperationRemove {
				return scim.Resource{}, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeMutability, Detail: "A workspace needs a name: displayName can't be removed."}
			}
			name, _ = str(op.Value)
		case attr == "members":
			var es []string
			if op.Path.ValueExpression != nil {
				e, ok := memberFilter(op.Path.ValueExpression)
				if !ok {
					return scim.Resource{}, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidFilter, Detail: `usher takes members[value eq "USER_ID"] as a member path filter.`}
				}
				es = []string{e}
			} else if es, err = memberEmails(op.Value); err != nil {
				return scim.Resource{}, err
			}
			switch op.Op {
			case scim.PatchOperationAdd:
				d.set(es, true)
			case scim.PatchOperationRemove:
				if op.Path.ValueExpression == nil && op.Value == nil {
					d.replace(nil) // path "members" and no value: every member
				} else {
					d.set(es, false)
				}
			case scim.PatchOperationReplace:
				d.replace(es)
			}
		default:
			// externalId and other group attributes usher does not keep.
		}
	}
	if err := h.change(r, ws, name, d); err != nil {
		return scim.Resource{}, err
	}
	return scim.Resource{}, nil
}

// needsMembers reports whether op is decided on the members as they are.
func needsMembers(op scim.PatchOperation) bool {
	if op.Path == nil {
		m, _ := op.Value.(map[string]any)
		_, has := get(m, "members")
		return has && op.Op == scim.PatchOperationReplace
	}
	if !strings.EqualFold(op.Path.AttributePath.AttributeName, "members") {
		return false
	}
	return op.Op == scim.PatchOperationReplace || op.Op == scim.PatchOperationRemove && op.Path.ValueExpression == nil && op.Value == nil
}

// memberFilter reads value eq "ID" (Okta's removal path filter).
func memberFilter(e filter.Expression) (string, bool) {
	v, ok, _ := anchorInner(e)
	if !ok {
		return "", false
	}
	return emailOf(v)
}

func (h groups) Delete(r *http.Request, id string) error {
	ws, _, err := h.find(r, id, false)
	if err != nil {
		return err
	}
	st := state(r)
	ds, err := st.svc.DeleteProvidedWorkspace(r.Context(), st.who, ws.Name)
	if err != nil {
		return fail(r, h.s.log, err)
	}
	tell(r, h.s.log, ds)
	return nil
}
