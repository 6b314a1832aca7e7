package scim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	elfilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	scimschema "github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// EnterpriseUser is the enterprise extension's schema URN (RFC 7643 4.3).
const EnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// A user's SCIM id is its usher identity (the normalized email), base64url:
// stable, needs no index to resolve, and safe in a path.
func userID(email string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(org.EmailKey(email)))
}

func emailOf(id string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return "", false
	}
	email, err := org.NormalizeEmail(string(b))
	return email, err == nil && email == string(b)
}

// roleAttr is where the org role is read and shown (Config.RoleAttribute).
type roleAttr struct {
	kind string // "roles", "userType" or "enterprise"
	attr string // the enterprise attribute, lower-case
	name string // the enterprise attribute as configured
}

func parseRoleAttr(s string) (roleAttr, error) {
	switch {
	case s == "" || strings.EqualFold(s, "roles"):
		return roleAttr{kind: "roles"}, nil
	case strings.EqualFold(s, "userType"):
		return roleAttr{kind: "userType"}, nil
	}
	if rest, ok := strings.CutPrefix(s, EnterpriseUser+":"); ok {
		for _, a := range []string{"employeeNumber", "costCenter", "organization", "division", "department"} {
			if strings.EqualFold(rest, a) {
				return roleAttr{kind: "enterprise", attr: strings.ToLower(a), name: a}, nil
			}
		}
	}
	return roleAttr{}, fmt.Errorf("scim role attribute %q: want roles, userType or %s:ATTRIBUTE (employeeNumber, costCenter, organization, division, department)", s, EnterpriseUser)
}

func parseRole(v any) (*org.Role, error) {
	s, ok := v.(string)
	if !ok {
		return nil, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: fmt.Sprintf("A role is a string (admin, member or viewer), not %v.", v)}
	}
	r, err := org.ParseRole(s)
	if err != nil {
		return nil, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: fmt.Sprintf("%q is not an usher role: valid roles are admin, member, viewer.", s)}
	}
	return &r, nil
}

// rolesValue is the role a "roles" value names: the primary entry's value,
// else the first entry's (Entra sends one, primary; Okta's app roles too).
func rolesValue(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case map[string]any:
		val, ok := get(x, "value")
		return val, ok
	case []any:
		var first any
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			val, ok := get(m, "value")
			if !ok {
				continue
			}
			if i == 0 || first == nil {
				first = val
			}
			if p, ok := get(m, "primary"); ok && truth(p) {
				return val, true
			}
		}
		return first, first != nil
	}
	return nil, false
}

// get is a case-insensitive attribute lookup: attribute names are
// case-insensitive (RFC 7643 2.1) and Entra and Okta spell some differently.
func get(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func str(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// truth reads a boolean as the providers send it: true, or Entra's "True".
func truth(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(strings.ToLower(x))
		return b
	}
	return false
}

func boolValue(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(x))); err == nil {
			return b, nil
		}
	}
	return false, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: fmt.Sprintf("active must be true or false, not %v.", v)}
}

type users struct{ s *Server }

func (h users) resource(u *org.User) scim.Resource {
	attrs := scim.ResourceAttributes{
		"userName": u.Display(),
		"active":   u.Active(),
		"emails":   []any{map[string]any{"value": u.Display(), "primary": true, "type": "work"}},
	}
	if u.Name != "" {
		attrs["displayName"] = u.Name
		attrs["name"] = map[string]any{"formatted": u.Name}
	}
	switch h.s.role.kind {
	case "roles":
		attrs["roles"] = []any{map[string]any{"value": string(u.Role), "primary": true}}
	case "userType":
		attrs["userType"] = string(u.Role)
	case "enterprise":
		attrs[EnterpriseUser] = map[string]any{h.s.role.name: string(u.Role)}
	}
	created, updated := u.Created, u.Updated
	r := scim.Resource{ID: userID(u.Email), Attributes: attrs, Meta: scim.Meta{
		Created: &created, LastModified: &updated, Version: `W/"` + strconv.FormatInt(u.Version, 10) + `"`,
	}}
	if u.ExternalID != "" {
		r.ExternalID = optional.NewString(u.ExternalID)
	}
	return r
}

// provided reads what a POST or PUT body says of a user.
func (h users) provided(attrs scim.ResourceAttributes) (handlers.Provided, error) {
	var in handlers.Provided
	if v, ok := get(attrs, "userName"); ok {
		in.Email, _ = str(v)
	}
	if v, ok := get(attrs, "externalId"); ok {
		if s, ok := str(v); ok {
			in.ExternalID = &s
		}
	}
	if v, ok := get(attrs, "active"); ok {
		b, err := boolValue(v)
		if err != nil {
			return in, err
		}
		in.Active = &b
	}
	if name := displayName(attrs); name != "" {
		in.Name = &name
	}
	role, err := h.roleIn(attrs)
	if err != nil {
		return in, err
	}
	in.Role = role
	return in, nil
}

// displayName is displayName, else name.formatted, else given and family names.
func displayName(attrs map[string]any) string {
	if v, ok := get(attrs, "displayName"); ok {
		if s, _ := str(v); strings.TrimSpace(s) != "" {
			return s
		}
	}
	n, ok := get(attrs, "name")
	m, _ := n.(map[string]any)
	if !ok || m == nil {
		return ""
	}
	if v, ok := get(m, "formatted"); ok {
		if s, _ := str(v); strings.TrimSpace(s) != "" {
			return s
		}
	}
	var parts []string
	for _, k := range []string{"givenName", "familyName"} {
		if v, ok := get(m, k); ok {
			if s, _ := str(v); s != "" {
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, " ")
}

// roleIn is the role a body says, nil when it says none.
func (h users) roleIn(attrs map[string]any) (*org.Role, error) {
	switch h.s.role.kind {
	case "roles":
		if v, ok := get(attrs, "roles"); ok {
			if val, ok := rolesValue(v); ok {
				return parseRole(val)
			}
		}
	case "userType":
		if v, ok := get(attrs, "userType"); ok && v != nil {
			return parseRole(v)
		}
	case "enterprise":
		if ext, ok := get(attrs, EnterpriseUser); ok {
			if m, ok := ext.(map[string]any); ok {
				if v, ok := get(m, h.s.role.attr); ok && v != nil {
					return parseRole(v)
				}
			}
		}
		if v, ok := get(attrs, EnterpriseUser+":"+h.s.role.attr); ok && v != nil {
			return parseRole(v)
		}
	}
	return nil, nil
}

func (h users) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	st := state(r)
	in, err := h.provided(attrs)
	if err != nil {
		return scim.Resource{}, err
	}
	u, ds, err := st.svc.Provision(r.Context(), st.who, in)
	if err != nil {
		return scim.Resource{}, fail(r, h.s.log, err)
	}
	tell(r, h.s.log, ds)
	return h.resource(u), nil
}

func (h users) user(r *http.Request, id string) (*org.User, error) {
	email, ok := emailOf(id)
	if !ok {
		return nil, scimerr.ScimErrorResourceNotFound(id)
	}
	u, err := state(r).svc.ProvidedUser(r.Context(), email)
	if err != nil {
		return nil, fail(r, h.s.log, err)
	}
	if u == nil {
		return nil, scimerr.ScimErrorResourceNotFound(id)
	}
	return u, nil
}

func (h users) Get(r *http.Request, id string) (scim.Resource, error) {
	u, err := h.user(r, id)
	if err != nil {
		return scim.Resource{}, err
	}
	return h.resource(u), nil
}

// GetAll lists users in email order, a page of the users index per request
// (one Redis round trip); a filter is answered from the one user it names
// (userName, emails.value or externalId eq, possibly "and"-ed with more,
// which are then checked on that user).
func (h users) GetAll(r *http.Request, p scim.ListRequestParams) (scim.Page, error) {
	st := state(r)
	if p.FilterValidator == nil {
		if p.Count == 0 {
			_, total, err := st.svc.ProvidedUsers(r.Context(), 0, 0)
			if err != nil {
				return scim.Page{}, fail(r, h.s.log, err)
			}
			return scim.Page{TotalResults: total}, nil
		}
		us, total, err := st.svc.ProvidedUsers(r.Context(), p.StartIndex-1, p.Count)
		if err != nil {
			return scim.Page{}, fail(r, h.s.log, err)
		}
		page := scim.Page{TotalResults: total}
		for _, u := range us {
			page.Resources = append(page.Resources, h.resource(u))
		}
		return page, nil
	}
	expr := p.FilterValidator.GetFilter()
	attr, value, node, ok := anchor(expr)
	if !ok {
		return scim.Page{}, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidFilter,
			Detail: "usher filters users on userName eq, emails[value eq], emails.value eq, externalId eq or id eq, alone or joined by 'and' with other conditions."}
	}
	var u *org.User
	var err error
	switch attr {
	case "email":
		u, err = st.svc.ProvidedUser(r.Context(), value)
	case "externalId":
		u, err = st.svc.ProvidedUserByExternalID(r.Context(), value)
	case "id":
		if email, ok := emailOf(value); ok {
			u, err = st.svc.ProvidedUser(r.Context(), email)
		}
	}
	if err != nil {
		return scim.Page{}, fail(r, h.s.log, err)
	}
	if u == nil {
		return scim.Page{}, nil
	}
	res := h.resource(u)
	// The anchor matched as the identity is compared (whole address, any
	// case); what the filter says besides is checked on the user.
	if rest := without(expr, node); rest != nil {
		v := elfilter.NewFilterValidator(rest, userSchemaWithCommon(), scimschema.ExtensionEnterpriseUser())
		if !passes(v, res) {
			return scim.Page{}, nil
		}
	}
	page := scim.Page{TotalResults: 1}
	if p.StartIndex <= 1 && p.Count > 0 {
		page.Resources = []scim.Resource{res}
	}
	return page, nil
}

// passes checks a resource against the whole filter (elimity/scim's
// evaluation), id and externalId included.
func passes(v interface {
	PassesFilter(map[string]any) error
}, res scim.Resource) bool {
	m := map[string]any{}
	for k, a := range res.Attributes {
		m[k] = a
	}
	m["id"] = res.ID
	if res.ExternalID.Present() {
		m["externalId"] = res.ExternalID.Value()
	}
	return v.PassesFilter(m) == nil
}

// anchor finds in a filter the one equality that names a single user: the
// filter is answered by reading that user and checking the rest on them.
// node is the anchor's expression (see without).
func anchor(e filter.Expression) (attr, value string, node filter.Expression, ok bool) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		attr, value, ok = anchorAttr(*x)
		return attr, value, e, ok
	case *filter.ValuePath:
		attr, value, ok = anchorValuePath(*x)
		return attr, value, e, ok
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			if a, v, n, ok := anchor(x.Left); ok {
				return a, v, n, ok
			}
			return anchor(x.Right)
		}
	}
	return "", "", nil, false
}

// without is e with node taken out of its "and"s; nil when nothing is left.
func without(e, node filter.Expression) filter.Expression {
	if e == node {
		return nil
	}
	x, ok := e.(*filter.LogicalExpression)
	if !ok || x.Operator != filter.AND {
		return e
	}
	l, r := without(x.Left, node), without(x.Right, node)
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	}
	return &filter.LogicalExpression{Left: l, Right: r, Operator: filter.AND}
}

// userSchemaWithCommon is the User schema with id, externalId and meta, as
// elimity/scim validates filters against.
func userSchemaWithCommon() scimschema.Schema {
	s := scimschema.CoreUserSchema()
	s.Attributes = append(s.Attributes, scimschema.CommonAttributes()...)
	return s
}

func anchorAttr(x filter.AttributeExpression) (string, string, bool) {
	if x.Operator != filter.EQ {
		return "", "", false
	}
	v, ok := x.CompareValue.(string)
	if !ok {
		return "", "", false
	}
	name := strings.ToLower(x.AttributePath.AttributeName)
	sub := ""
	if x.AttributePath.SubAttribute != nil {
		sub = strings.ToLower(*x.AttributePath.SubAttribute)
	}
	switch {
	case name == "username" && sub == "":
		return "email", v, true
	case name == "emails" && sub == "value":
		return "email", v, true
	case name == "externalid" && sub == "":
		return "externalId", v, true
	case name == "id" && sub == "":
		return "id", v, true
	}
	return "", "", false
}

func anchorValuePath(x filter.ValuePath) (string, string, bool) {
	if !strings.EqualFold(x.AttributePath.AttributeName, "emails") {
		return "", "", false
	}
	inner, _, _ := anchorInner(x.ValueFilter)
	return "email", inner, inner != ""
}

// anchorInner is the value of "value eq X" inside emails[...].
func anchorInner(e filter.Expression) (string, bool, bool) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		if x.Operator == filter.EQ && strings.EqualFold(x.AttributePath.AttributeName, "value") {
			v, ok := x.CompareValue.(string)
			return v, ok, ok
		}
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			if v, ok, _ := anchorInner(x.Left); ok {
				return v, ok, ok
			}
			return anchorInner(x.Right)
		}
	}
	return "", false, false
}

// Replace is a PUT: what it says replaces what usher has, except what it
// does not say of the role (kept: the provider may not manage roles) and of
// the name. userName is the usher identity and cannot change.
func (h users) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	u, err := h.user(r, id)
	if err != nil {
		return scim.Resource{}, err
	}
	in, err := h.provided(attrs)
	if err != nil {
		return scim.Resource{}, err
	}
	if err := sameIdentity(u, in.Email); err != nil {
		return scim.Resource{}, err
	}
	return h.update(r, u, in)
}

func sameIdentity(u *org.User, userName string) error {
	if userName == "" {
		return nil
	}
	if email, err := org.NormalizeEmail(userName); err == nil && email == u.Email {
		return nil
	}
	return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeMutability,
		Detail: fmt.Sprintf("userName is %s's usher identity (their email) and can't change to %q; provision the new address as a new user and deactivate this one.", u.Display(), userName)}
}

func (h users) update(r *http.Request, u *org.User, in handlers.Provided) (scim.Resource, error) {
	st := state(r)
	in.Email = u.Email
	next, ds, err := st.svc.UpdateProvided(r.Context(), st.who, in)
	if err != nil {
		return scim.Resource{}, fail(r, h.s.log, err)
	}
	tell(r, h.s.log, ds)
	return h.resource(next), nil
}

// Delete deactivates: usher never forgets a member silently (the audit
// says the provider deleted them).
func (h users) Delete(r *http.Request, id string) error {
	u, err := h.user(r, id)
	if err != nil {
		return err
	}
	st := state(r)
	ds, err := st.svc.Deprovision(r.Context(), st.who, u.Email)
	if err != nil {
		return fail(r, h.s.log, err)
	}
	tell(r, h.s.log, ds)
	return nil
}

// Patch applies add, replace and remove, with or without a path, in the
// forms Okta and Entra send (see patch.go's references).
func (h users) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	u, err := h.user(r, id)
	if err != nil {
		return scim.Resource{}, err
	}
	in := handlers.Provided{Email: u.Email}
	for _, op := range ops {
		if err := h.patchOne(u, &in, op); err != nil {
			return scim.Resource{}, err
		}
	}
	return h.update(r, u, in)
}

func (h users) patchOne(u *org.User, in *handlers.Provided, op scim.PatchOperation) error {
	remove := op.Op == scim.PatchOperationRemove
	if op.Path == nil {
		m, ok := op.Value.(map[string]any)
		if !ok {
			return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: "A PATCH operation without a path needs an object of attributes as its value."}
		}
		for k, v := range m {
			if strings.HasPrefix(strings.ToLower(k), strings.ToLower(EnterpriseUser)) {
				if err := h.patchAttr(u, in, k, "", v, remove); err != nil {
					return err
				}
				continue
			}
			name, sub, _ := strings.Cut(k, ".")
			if err := h.patchAttr(u, in, name, sub, v, remove); err != nil {
				return err
			}
		}
		return nil
	}
	name := op.Path.AttributePath.AttributeName
	if op.Path.AttributePath.URIPrefix != nil {
		name = *op.Path.AttributePath.URIPrefix + ":" + name
	}
	sub := ""
	if op.Path.AttributePath.SubAttribute != nil {
		sub = *op.Path.AttributePath.SubAttribute
	}
	if op.Path.SubAttribute != nil {
		sub = *op.Path.SubAttribute
	}
	return h.patchAttr(u, in, name, sub, op.Value, remove)
}

// patchAttr applies one attribute of a PATCH. Attributes usher does not keep
// (phone numbers, addresses, title...) are accepted and ignored, as RFC
// 7644 lets a service that does not store them.
func (h users) patchAttr(u *org.User, in *handlers.Provided, name, sub string, v any, remove bool) error {
	lname := strings.ToLower(name)
	switch {
	case lname == "active":
		if remove {
			return nil
		}
		b, err := boolValue(v)
		if err != nil {
			return err
		}
		in.Active = &b
	case lname == "displayname":
		s, _ := str(v)
		if remove {
			s = ""
		}
		in.Name = &s
	case lname == "name":
		switch strings.ToLower(sub) {
		case "", "formatted":
			s := ""
			if m, ok := v.(map[string]any); ok {
				s = displayName(map[string]any{"name": m})
			} else {
				s, _ = str(v)
			}
			if s != "" && in.Name == nil {
				in.Name = &s
			}
		}
		// name.givenName / name.familyName alone: usher keeps one display
		// name; the providers send displayName alongside.
	case lname == "externalid":
		s, _ := str(v)
		if remove {
			s = ""
		}
		in.ExternalID = &s
	case lname == "username":
		s, _ := str(v)
		return sameIdentity(u, s)
	case lname == "roles" && h.s.role.kind == "roles",
		lname == "usertype" && h.s.role.kind == "userType":
		if remove {
			m := org.RoleMember
			in.Role = &m
			return nil
		}
		val, ok := rolesValue(v)
		if lname == "usertype" {
			val, ok = v, v != nil
		}
		if !ok {
			return nil
		}
		role, err := parseRole(val)
		if err != nil {
			return err
		}
		in.Role = role
	case h.s.role.kind == "enterprise" && strings.HasPrefix(lname, strings.ToLower(EnterpriseUser)):
		attr := strings.TrimPrefix(strings.TrimPrefix(lname, strings.ToLower(EnterpriseUser)), ":")
		if attr == "" {
			if m, ok := v.(map[string]any); ok {
				if val, ok := get(m, h.s.role.attr); ok {
					role, err := parseRole(val)
					if err != nil {
						return err
					}
					in.Role = role
				}
			}
			return nil
		}
		if attr == h.s.role.attr {
			if remove {
				m := org.RoleMember
				in.Role = &m
				return nil
			}
			role, err := parseRole(v)
			if err != nil {
				return err
			}
			in.Role = role
		}
	}
	return nil
}
