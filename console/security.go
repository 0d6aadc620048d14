package console

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type aclRow struct {
	Principal, Host, Type, Name, Pattern, Operation, Permission string
}

type userRow struct {
	User  string
	Creds []string
	Mechs []string
	Err   string
}

func (c *Console) securityPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	var acls []aclRow
	var aclErr, userErr string
	all := kadm.NewACLs().AnyResource().Allow().AllowHosts().Deny().DenyHosts().
		Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)
	res, err := c.admin(ctx).DescribeACLs(ctx, all)
	if err != nil {
		aclErr = err.Error()
	}
	for _, d := range res {
		if d.Err != nil {
			aclErr = errText(d.Err, d.ErrMessage).Error()
			continue
		}
		for _, a := range d.Described {
			acls = append(acls, aclRow{Principal: a.Principal, Host: a.Host, Type: lower(a.Type.String()), Name: a.Name,
				Pattern: lower(a.Pattern.String()), Operation: lower(a.Operation.String()), Permission: lower(a.Permission.String())})
		}
	}
	sort.Slice(acls, func(i, j int) bool {
		a, b := acls[i], acls[j]
		return a.Principal+a.Type+a.Name+a.Operation < b.Principal+b.Type+b.Name+b.Operation
	})
	var users []userRow
	if us, err := c.admin(ctx).DescribeUserSCRAMs(ctx); err != nil {
		userErr = err.Error()
	} else {
		for _, u := range us.Sorted() {
			row := userRow{User: u.User}
			for _, ci := range u.CredInfos {
				row.Creds = append(row.Creds, ci.String())
				row.Mechs = append(row.Mechs, ci.Mechanism.String())
			}
			if u.Err != nil {
				row.Err = errText(u.Err, u.ErrMessage).Error()
			}
			users = append(users, row)
		}
	}
	c.render(w, r, "security", c.newPage(r, "ACLs and users", "security", struct {
		ACLs    []aclRow
		ACLErr  string
		Users   []userRow
		UserErr string
	}{acls, aclErr, users, userErr}), false)
}

func lower(s string) string { return strings.ToLower(s) }

// aclFromForm builds the builder of one exact ACL from the form (create
// and delete read the same fields).
func aclFromForm(r *http.Request) (*kadm.ACLBuilder, string, error) {
	f := r.PostForm
	principal := strings.TrimSpace(f.Get("principal"))
	if !strings.Contains(principal, ":") {
		return nil, "", fmt.Errorf("principal %q: give it as User:name", principal)
	}
	host := strings.TrimSpace(f.Get("host"))
	if host == "" {
		host = "*"
	}
	name := strings.TrimSpace(f.Get("name"))
	b := kadm.NewACLs()
	switch lower(f.Get("type")) {
	case "topic":
		b.Topics(name)
	case "group":
		b.Groups(name)
	case "cluster":
		b.Clusters()
		name = "kafka-cluster"
	case "transactional_id", "transactionalid":
		b.TransactionalIDs(name)
	default:
		return nil, "", fmt.Errorf("resource type %q: choose topic, group, cluster or transactional_id", f.Get("type"))
	}
	if name == "" {
		return nil, "", errors.New("give the resource's name")
	}
	pattern, err := kmsg.ParseACLResourcePatternType(f.Get("pattern"))
	if err != nil || (pattern != kadm.ACLPatternLiteral && pattern != kadm.ACLPatternPrefixed) {
		return nil, "", fmt.Errorf("pattern %q: choose literal or prefixed", f.Get("pattern"))
	}
	b.ResourcePatternType(pattern)
	op, err := kmsg.ParseACLOperation(f.Get("operation"))
	if err != nil || op == kadm.OpAny {
		return nil, "", fmt.Errorf("operation %q: %v", f.Get("operation"), err)
	}
	b.Operations(op)
	switch lower(f.Get("permission")) {
	case "allow":
		b.Allow(principal).AllowHosts(host)
	case "deny":
		b.Deny(principal).DenyHosts(host)
	default:
		return nil, "", fmt.Errorf("permission %q: choose allow or deny", f.Get("permission"))
	}
	what := fmt.Sprintf("%s %s %s on %s %s (%s) from %s", lower(f.Get("permission")), principal, lower(op.String()), lower(f.Get("type")), name, lower(pattern.String()), host)
	return b, what, nil
}

func (c *Console) createACL(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	b, what, err := aclFromForm(r)
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	res, err := c.admin(ctx).CreateACLs(ctx, b)
	if err == nil {
		for _, x := range res {
			if x.Err != nil {
				err = errText(x.Err, x.ErrMessage)
			}
		}
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("creating ACL: %w", err))
		return
	}
	c.done(w, r, Prefix+"security", "created ACL: "+what)
}

func (c *Console) deleteACL(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	b, what, err := aclFromForm(r)
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	res, err := c.admin(ctx).DeleteACLs(ctx, b)
	n := 0
	if err == nil {
		for _, x := range res {
			if x.Err != nil {
				err = errText(x.Err, x.ErrMessage)
			}
			n += len(x.Deleted)
		}
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("deleting ACL: %w", err))
		return
	}
	c.done(w, r, Prefix+"security", fmt.Sprintf("deleted %d ACL(s): %s", n, what))
}

func scramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512", "":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("mechanism %q: choose SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

func (c *Console) upsertUser(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	pass := r.PostForm.Get("password")
	mech, err := scramMechanism(r.PostForm.Get("mechanism"))
	if err == nil && (user == "" || pass == "") {
		err = errors.New("give a user name and a password")
	}
	iter := int64(8192)
	if s := strings.TrimSpace(r.PostForm.Get("iterations")); s != "" && err == nil {
		iter, err = strconv.ParseInt(s, 10, 32)
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	res, err := c.admin(ctx).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: mech, Iterations: int32(iter), Password: pass}})
	if err == nil {
		if x, ok := res[user]; ok && x.Err != nil {
			err = errText(x.Err, x.ErrMessage)
		}
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("user %q: %w", user, err))
		return
	}
	c.done(w, r, Prefix+"security", fmt.Sprintf("set the %s password of %s", mech, user))
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	mech, err := scramMechanism(r.PostForm.Get("mechanism"))
	if err != nil || user == "" {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("give the user and mechanism to delete: %v", err))
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	res, err := c.admin(ctx).AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: user, Mechanism: mech}}, nil)
	if err == nil {
		if x, ok := res[user]; ok && x.Err != nil {
			err = errText(x.Err, x.ErrMessage)
		}
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("deleting %s of %q: %w", mech, user, err))
		return
	}
	c.done(w, r, Prefix+"security", fmt.Sprintf("deleted the %s credential of %s", mech, user))
}
