package broker

// AlterUserScramCredentials (key 51), version 0.
//
// Upsertions carry the salt and the salted password the client computed
// (the password never travels); the broker derives and stores the SCRAM
// keys (scram_store.go) durably in the commit log before it answers. A
// slave forwards the request to its master (slave_gate.go).
//
// Behaviour:
//   - Validation and messages are Kafka's ScramControlManager's: an empty
//     user name or iterations outside 4096–16384 is UNACCEPTABLE_CREDENTIAL,
//     an unknown mechanism UNSUPPORTED_SASL_MECHANISM, deleting a missing
//     credential RESOURCE_NOT_FOUND, a user altered twice in one request
//     DUPLICATE_RESOURCE.
//   - One result per user, as Kafka answers.
//
// Versions: only v0 exists.

import (
	"context"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AlterUserSCRAMCredentials, 0, 0, handleAlterUserSCRAMCredentials) }

func handleAlterUserSCRAMCredentials(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := r.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	type result struct {
		code int16
		msg  string
	}
	var order []string
	results := map[string]*result{}
	count := map[string]int{}
	for _, d := range r.Deletions {
		count[d.Name]++
	}
	for _, u := range r.Upsertions {
		count[u.Name]++
	}
	note := func(user string, code int16, msg string) {
		if _, ok := results[user]; !ok {
			order = append(order, user)
			results[user] = &result{}
		}
		if results[user].code == 0 && code != 0 {
			results[user].code, results[user].msg = code, msg
		}
	}
	denied := int16(0)
	deniedMsg := ""
	if code, msg := b.authorizeCluster(req, aclOpAlter); code != 0 {
		denied, deniedMsg = code, msg
	}
	var kvs []storage.KV
	check := func(user string, mech int8) (string, bool) {
		switch {
		case denied != 0:
			note(user, denied, deniedMsg)
		case user == "":
			note(user, kerr.UnacceptableCredential.Code, "Username must not be empty")
		case security.ScramName(mech) == "":
			note(user, kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism")
		case count[user] > 1:
			note(user, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		default:
			return security.ScramName(mech), true
		}
		return "", false
	}
	for _, d := range r.Deletions {
		mech, ok := check(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		if _, exists := b.scramCredential(d.Name, mech); !exists {
			note(d.Name, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
			continue
		}
		note(d.Name, 0, "")
		kvs = append(kvs, storage.KV{Key: scramKey(d.Name, mech)})
	}
	for _, u := range r.Upsertions {
		mech, ok := check(u.Name, u.Mechanism)
		if !ok {
			continue
		}
		switch {
		case u.Iterations < security.ScramMinIterations:
			note(u.Name, kerr.UnacceptableCredential.Code, "Too few iterations")
			continue
		case u.Iterations > security.ScramMaxIterations:
			note(u.Name, kerr.UnacceptableCredential.Code, "Too many iterations")
			continue
		}
		c, err := security.ScramFromSalted(mech, u.Salt, u.SaltedPassword, u.Iterations)
		if err != nil {
			note(u.Name, kerr.UnacceptableCredential.Code, err.Error())
			continue
		}
		note(u.Name, 0, "")
		kvs = append(kvs, storage.KV{Key: scramKey(u.Name, mech), Value: encodeScram(c)})
	}
	if err := b.putScram(kvs); err != nil {
		for _, u := range order {
			note(u, kerr.UnknownServerError.Code, err.Error())
		}
	}
	for _, u := range order {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u
		if rs := results[u]; rs.code != 0 {
			msg := rs.msg
			res.ErrorCode, res.ErrorMessage = rs.code, &msg
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
