package scim_test

// The two providers, as their documentation shows their requests:
//
// Okta: "SCIM 2.0 protocol reference" and "Build a SCIM provisioning
// integration" (developer.okta.com/docs/reference/scim/scim-20/): before
// creating a user, GET /Users?filter=userName eq "..."&startIndex=1&count=100;
// POST /Users with userName, name{givenName,familyName}, emails[{primary,
// value,type}], displayName, locale, externalId, groups, password, active;
// deactivation as PATCH {"op":"replace","value":{"active":false}} (no path);
// imports paged with startIndex and count=100; group renames as PATCH
// {"op":"replace","value":{"id":ID,"displayName":NAME}}; member removal as
// {"op":"remove","path":"members[value eq \"ID\"]"}.
//
// Entra ID: "Tutorial: Develop and plan provisioning for a SCIM endpoint"
// (learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups)
// and "Known issues and resolutions with SCIM 2.0 protocol compliance"
// (learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility):
// capitalised op values ("Replace", "Add", "Remove"), booleans as strings
// ("active": "False"), member removal as {"op":"Remove","path":"members",
// "value":[{"value":ID}]} rather than a path filter, the connection test
// GET /Users?filter=userName eq "<random GUID>" expecting 200 and an empty
// list, and GET /Groups?excludedAttributes=members&filter=displayName eq "...".

const (
	userSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	entSchema   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

type obj = map[string]any

func oktaUser(email, given, family, externalID string) obj {
	return obj{
		"schemas":     []any{userSchema},
		"userName":    email,
		"name":        obj{"givenName": given, "familyName": family},
		"emails":      []any{obj{"primary": true, "value": email, "type": "work"}},
		"displayName": given + " " + family,
		"locale":      "en-US",
		"externalId":  externalID,
		"groups":      []any{},
		"password":    "1mz050nq",
		"active":      true,
	}
}

func oktaExists(email string) string {
	return "/scim/v2/Users?filter=" + q(`userName eq "`+email+`"`) + "&startIndex=1&count=100"
}

func oktaActive(active bool) obj {
	return obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "replace", "value": obj{"active": active}}}}
}

func oktaGroup(name string, memberIDs ...string) obj {
	ms := []any{}
	for _, id := range memberIDs {
		ms = append(ms, obj{"value": id, "display": id})
	}
	return obj{"schemas": []any{groupSchema}, "displayName": name, "members": ms}
}

func oktaRename(id, name string) obj {
	return obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "replace", "value": obj{"id": id, "displayName": name}}}}
}

func oktaAddMember(ids ...string) obj {
	ms := []any{}
	for _, id := range ids {
		ms = append(ms, obj{"value": id, "display": id})
	}
	return obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "add", "path": "members", "value": ms}}}
}

func oktaRemoveMember(id string) obj {
	return obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "remove", "path": `members[value eq "` + id + `"]`}}}
}

func entraUser(email, externalID string) obj {
	return obj{
		"schemas":    []any{userSchema, entSchema},
		"externalId": externalID,
		"userName":   email,
		"active":     true,
		"emails":     []any{obj{"primary": true, "type": "work", "value": email}},
		"meta":       obj{"resourceType": "User"},
		"name":       obj{"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"roles":      []any{},
	}
}

func entraActive(value string) obj {
	return obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "Replace", "path": "active", "value": value}}}
}

func entraMembers(op string, ids ...string) obj {
	ms := []any{}
	for _, id := range ids {
		ms = append(ms, obj{"value": id})
	}
	return obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": op, "path": "members", "value": ms}}}
}

func entraRename(name string) obj {
	return obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "Replace", "path": "displayName", "value": name}}}
}
