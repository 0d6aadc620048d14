package main

// The OAUTHBEARER validation settings, Kafka's names (rows appended to the
// settings table at init).

import (
	"math"
	"strconv"
	"time"
)

var oauthSettings = []setting{
	{key: "sasl.oauthbearer.jwks.endpoint.url", kind: kindString, usage: "file: or https: URL of the JSON Web Key Set whose keys sign OAUTHBEARER tokens (needed with OAUTHBEARER in sasl.enabled.mechanisms; a file is re-read when it changes, an https: set fetched again every sasl.oauthbearer.jwks.endpoint.refresh.ms and when a token names an unknown key id)"},
	{key: "sasl.oauthbearer.jwks.endpoint.refresh.ms", kind: kindInt, usage: "how often an https: JWKS is fetched again", def: func(*Config) string { return "3600000" }},
	{key: "sasl.oauthbearer.expected.audience", kind: kindList, usage: "when set, an OAUTHBEARER token's aud must name one of these"},
	{key: "sasl.oauthbearer.allow.unverified.audience", kind: kindBool, usage: "accept OAUTHBEARER tokens of any audience when sasl.oauthbearer.expected.audience is not set", def: func(d *Config) string { return strconv.FormatBool(d.Security.OAuth.AllowUnverifiedAudience) }},
	{key: "sasl.oauthbearer.expected.issuer", kind: kindString, usage: "when set, an OAUTHBEARER token's iss must be this"},
	{key: "sasl.oauthbearer.sub.claim.name", kind: kindString, usage: "the token claim naming the principal (User:<it>)", def: func(d *Config) string { return d.Security.OAuth.SubClaim }},
	{key: "sasl.oauthbearer.scope.claim.name", kind: kindString, usage: "the token claim holding its scopes", def: func(d *Config) string { return d.Security.OAuth.ScopeClaim }},
	{key: "sasl.oauthbearer.clock.skew.seconds", kind: kindInt, usage: "leeway when checking a token's exp, iat and nbf", def: func(d *Config) string { return strconv.Itoa(int(d.Security.OAuth.ClockSkew / time.Second)) }},
}

func init() { settings = append(settings, oauthSettings...) }

// oauth reads the OAUTHBEARER settings into c.Security.OAuth.
func (p *parser) oauth(c *Config) {
	o := &c.Security.OAuth
	if v, ok := p.str("sasl.oauthbearer.jwks.endpoint.url"); ok {
		o.JWKSURL = v
	}
	if d, ok := p.ms("sasl.oauthbearer.jwks.endpoint.refresh.ms", 1000, math.MaxInt64/1_000_000); ok {
		o.JWKSRefresh = d
	}
	if v, ok := p.list("sasl.oauthbearer.expected.audience"); ok {
		o.ExpectedAudience = v
	}
	if v, ok := p.bool("sasl.oauthbearer.allow.unverified.audience"); ok {
		o.AllowUnverifiedAudience = v
	}
	if v, ok := p.str("sasl.oauthbearer.expected.issuer"); ok {
		o.ExpectedIssuer = v
	}
	if v, ok := p.str("sasl.oauthbearer.sub.claim.name"); ok {
		o.SubClaim = v
	}
	if v, ok := p.str("sasl.oauthbearer.scope.claim.name"); ok {
		o.ScopeClaim = v
	}
	if n, ok := p.int("sasl.oauthbearer.clock.skew.seconds", 0, math.MaxInt32); ok {
		o.ClockSkew = time.Duration(n) * time.Second
		if n == 0 {
			o.ClockSkew = -1 // none (the broker's zero means its default)
		}
	}
}
