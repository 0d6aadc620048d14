package security

// ssl.principal.mapping.rules, as Kafka's SslPrincipalMapper reads them: a
// comma-separated list of rules, each DEFAULT (the distinguished name
// unchanged) or RULE:pattern/replacement/ with an optional L or U after it
// (lower or upper case the result). The first rule whose pattern matches
// the whole DN (RFC 2253, as Kafka's X500Principal.getName) gives the
// principal's name; $1 … in the replacement are the pattern's groups. A
// certificate no rule applies to is refused at the TLS handshake, as Kafka
// fails the authentication of such a client.

import (
	"crypto/tls"
	"fmt"
	"regexp"
	"strings"
)

// PrincipalMapper maps a client certificate's subject to a principal name.
type PrincipalMapper struct{ rules []mappingRule }

type mappingRule struct {
	def          bool
	re           *regexp.Regexp
	repl         string
	lower, upper bool
}

// Kafka's RULE_PATTERN and RULE_SPLITTER.
var (
	rulePattern  = `(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)`
	ruleSplitter = regexp.MustCompile(`\s*(` + rulePattern + `)\s*(?:,\s*|$)`)
	ruleParser   = regexp.MustCompile(`^(?:` + rulePattern + `)$`)
	javaGroup    = regexp.MustCompile(`\$(\d+)`)
)

// ParseMappingRules reads ssl.principal.mapping.rules; empty means DEFAULT.
func ParseMappingRules(s string) (*PrincipalMapper, error) {
	m := &PrincipalMapper{}
	s = strings.TrimSpace(s)
	if s == "" {
		return m, nil
	}
	for _, part := range ruleSplitter.FindAllStringSubmatch(s, -1) {
		text := strings.TrimSpace(part[1])
		if text == "" {
			continue
		}
		p := ruleParser.FindStringSubmatch(text)
		switch {
		case p == nil || p[5] != "":
			return nil, fmt.Errorf("ssl.principal.mapping.rules: invalid rule: %s", text)
		case p[1] == "DEFAULT":
			m.rules = append(m.rules, mappingRule{def: true})
		default:
			pat := strings.ReplaceAll(p[2], `\/`, `/`)
			re, err := regexp.Compile(`^(?:` + pat + `)$`)
			if err != nil {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: rule %s: %v", text, err)
			}
			repl := javaGroup.ReplaceAllString(strings.ReplaceAll(p[3], `\/`, `/`), `$${$1}`)
			m.rules = append(m.rules, mappingRule{re: re, repl: repl, lower: p[4] == "L", upper: p[4] == "U"})
		}
	}
	return m, nil
}

// Name maps a distinguished name; an error when no rule applies.
func (m *PrincipalMapper) Name(dn string) (string, error) {
	if m == nil || len(m.rules) == 0 {
		return dn, nil
	}
	for _, r := range m.rules {
		if r.def {
			return dn, nil
		}
		if !r.re.MatchString(dn) {
			continue
		}
		out := r.re.ReplaceAllString(dn, r.repl)
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("no ssl.principal.mapping.rules rule applies to %s", dn)
}

// Principal is the principal of a TLS client: User: and the mapped subject,
// User:ANONYMOUS without a certificate (or one no rule maps, which the
// handshake refused already).
func (m *PrincipalMapper) Principal(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return "User:ANONYMOUS"
	}
	name, err := m.Name(cs.PeerCertificates[0].Subject.String())
	if err != nil {
		return "User:ANONYMOUS"
	}
	return "User:" + name
}
