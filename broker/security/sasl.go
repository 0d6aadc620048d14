package security

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"

	"github.com/xdg-go/scram"
)

// The SASL mechanisms served here; OAUTHBEARER is the broker package's
// (broker/oauth.go), GSSAPI is not served.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists the mechanisms gregor serves, in Kafka's order.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512}

// Supported reports whether mech is served.
func Supported(mech string) bool {
	return mech == Plain || mech == ScramSHA256 || mech == ScramSHA512
}

// Scram mechanism codes as Kafka's ScramMechanism enum numbers them
// (DescribeUserScramCredentials / AlterUserScramCredentials).
const (
	ScramCodeSHA256 int8 = 1
	ScramCodeSHA512 int8 = 2
)

// ScramName returns the mechanism of a Kafka ScramMechanism code, "" for an
// unknown one.
func ScramName(code int8) string {
	switch code {
	case ScramCodeSHA256:
		return ScramSHA256
	case ScramCodeSHA512:
		return ScramSHA512
	}
	return ""
}

// Kafka's bounds on SCRAM iterations (ScramMechanism.minIterations and
// AlterUserScramCredentials' maximum).
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

func scramHash(mech string) (scram.HashGeneratorFcn, func() hash.Hash, error) {
	switch mech {
	case ScramSHA256:
		return scram.SHA256, sha256.New, nil
	case ScramSHA512:
		return scram.SHA512, sha512.New, nil
	}
	return nil, nil, fmt.Errorf("unknown SCRAM mechanism %q", mech)
}

// ScramCredential is what is stored for one user and mechanism: never the
// password, only the salt, the iterations and the two keys RFC 5802 derives
// from the salted password.
type ScramCredential struct {
	Mechanism  string
	Iterations int32
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// ScramFromSalted derives the stored credential from a salted password, as
// AlterUserScramCredentials carries it (the client salts; the password never
// reaches the broker). The two keys are RFC 5802's
// ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey),
// ServerKey = HMAC(SaltedPassword, "Server Key").
func ScramFromSalted(mech string, salt, saltedPassword []byte, iterations int32) (ScramCredential, error) {
	_, h, err := scramHash(mech)
	if err != nil {
		return ScramCredential{}, err
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	ck := mac(saltedPassword, "Client Key")
	hh := h()
	hh.Write(ck)
	return ScramCredential{
		Mechanism:  mech,
		Iterations: iterations,
		Salt:       append([]byte(nil), salt...),
		StoredKey:  hh.Sum(nil),
		ServerKey:  mac(saltedPassword, "Server Key"),
	}, nil
}

// ScramFromPassword salts password with a fresh random salt through the
// SCRAM library (the `gregor user` command and PLAIN's check use it).
func ScramFromPassword(mech, password string, iterations int, salt []byte) (ScramCredential, error) {
	gen, _, err := scramHash(mech)
	if err != nil {
		return ScramCredential{}, err
	}
	if salt == nil {
		salt = make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return ScramCredential{}, err
		}
	}
	cl, err := gen.NewClient("", password, "")
	if err != nil {
		return ScramCredential{}, err
	}
	sc := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	return ScramCredential{Mechanism: mech, Iterations: int32(iterations), Salt: salt, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// CheckPassword reports whether password is the one c was made from.
func (c ScramCredential) CheckPassword(password string) bool {
	d, err := ScramFromPassword(c.Mechanism, password, int(c.Iterations), c.Salt)
	return err == nil && subtle.ConstantTimeCompare(d.StoredKey, c.StoredKey) == 1
}

// AuthError is a failed authentication: Message is what Kafka tells the
// client in SaslAuthenticate's error message (SASL_AUTHENTICATION_FAILED).
type AuthError struct{ Message string }

func (e *AuthError) Error() string { return e.Message }

// invalidCredentials is the message Kafka's SaslServerAuthenticator sends for
// a SaslException of the mechanism (a malformed message, a wrong proof).
func invalidCredentials(mech string) *AuthError {
	return &AuthError{"Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech}
}

// Lookup finds the stored SCRAM credential of a user for a mechanism.
type Lookup func(user, mech string) (ScramCredential, bool)

// PlainCheck reports whether user/password is a valid PLAIN login.
type PlainCheck func(user, password string) bool

// Conversation is one server side of a SASL exchange.
type Conversation interface {
	// Step takes the client's next message and returns the answer; done
	// is true once the client is authenticated. A failed authentication
	// returns an *AuthError.
	Step(in []byte) (out []byte, done bool, err error)
	// User is the authenticated user name (valid once done).
	User() string
}

// NewConversation starts a server-side exchange of mech.
func NewConversation(mech string, lookup Lookup, plain PlainCheck) (Conversation, error) {
	switch mech {
	case Plain:
		return &plainConv{check: plain}, nil
	case ScramSHA256, ScramSHA512:
		gen, _, _ := scramHash(mech)
		c := &scramConv{mech: mech}
		srv, err := gen.NewServer(func(user string) (scram.StoredCredentials, error) {
			cred, ok := lookup(user, mech)
			if !ok {
				return scram.StoredCredentials{}, fmt.Errorf("unknown user")
			}
			return scram.StoredCredentials{
				KeyFactors: scram.KeyFactors{Salt: string(cred.Salt), Iters: int(cred.Iterations)},
				StoredKey:  cred.StoredKey, ServerKey: cred.ServerKey,
			}, nil
		})
		if err != nil {
			return nil, err
		}
		c.conv = srv.NewConversation()
		return c, nil
	}
	return nil, fmt.Errorf("unsupported SASL mechanism %s", mech)
}

// plainConv is RFC 4616: one message, [authzid] NUL authcid NUL passwd.
type plainConv struct {
	check PlainCheck
	user  string
}

func (p *plainConv) User() string { return p.user }

func (p *plainConv) Step(in []byte) ([]byte, bool, error) {
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 {
		return nil, false, invalidCredentials(Plain)
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	switch {
	case user == "":
		return nil, false, &AuthError{"Authentication failed: username not specified"}
	case pass == "":
		return nil, false, &AuthError{"Authentication failed: password not specified"}
	case authz != "" && authz != user:
		return nil, false, &AuthError{"Authentication failed: Client requested an authorization id that is different from username"}
	case p.check == nil || !p.check(user, pass):
		return nil, false, &AuthError{"Authentication failed: Invalid username or password"}
	}
	p.user = user
	return nil, true, nil
}

// scramConv runs RFC 5802 through xdg-go/scram: client-first →
// server-first, client-final → server-final.
type scramConv struct {
	mech string
	conv *scram.ServerConversation
	step int
}

func (s *scramConv) User() string { return s.conv.Username() }

func (s *scramConv) Step(in []byte) ([]byte, bool, error) {
	s.step++
	out, err := s.conv.Step(string(in))
	if err != nil {
		// An unknown user and a wrong proof get the same answer, as from
		// Kafka (a SaslException of ScramSaslServer either way).
		return nil, false, invalidCredentials(s.mech)
	}
	if s.step == 2 {
		if !s.conv.Valid() {
			return nil, false, invalidCredentials(s.mech)
		}
		return []byte(out), true, nil
	}
	return []byte(out), false, nil
}
