package broker

// DescribeUserScramCredentials (key 50), version 0.
//
// The mechanisms and iteration counts of the named users (every user with
// a credential when none is named), never the keys (scram_store.go).
//
// Behaviour:
//   - A user named twice gets DUPLICATE_RESOURCE, one without credentials
//     RESOURCE_NOT_FOUND, with Kafka's messages.
//
// Versions: only v0 exists.

import (
	"context"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeUserSCRAMCredentials, 0, 0, handleDescribeUserSCRAMCredentials) }

func handleDescribeUserSCRAMCredentials(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if code, msg := b.authorizeCluster(req, aclOpDescribe); code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp, nil
	}
	all, creds := b.scramUsers()
	names := all
	if len(r.Users) > 0 {
		names = nil
		for _, u := range r.Users {
			names = append(names, u.Name)
		}
	}
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	for _, n := range names {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = n
		switch {
		case count[n] > 1:
			msg := "Cannot describe SCRAM credentials for the same user twice in a single request: " + n
			res.ErrorCode, res.ErrorMessage = kerr.DuplicateResource.Code, &msg
		case len(creds[n]) == 0:
			msg := "Attempt to describe a user credential that does not exist: " + n
			res.ErrorCode, res.ErrorMessage = kerr.ResourceNotFound.Code, &msg
		default:
			for _, c := range creds[n] {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism = security.ScramCodeSHA256
				if c.Mechanism == security.ScramSHA512 {
					ci.Mechanism = security.ScramCodeSHA512
				}
				ci.Iterations = c.Iterations
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
