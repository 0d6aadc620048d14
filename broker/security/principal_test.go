package security

import "testing"

// Kafka's SslPrincipalMapperTest cases.
func TestMappingRules(t *testing.T) {
	for _, c := range []struct{ rules, dn, want string }{
		{"DEFAULT", "CN=kafka1,OU=Engineering,O=Apache,L=SF,ST=CA,C=US", "CN=kafka1,OU=Engineering,O=Apache,L=SF,ST=CA,C=US"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=duke,OU=ServiceUsers,O=Org,C=US", "duke"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=duke,OU=Other,O=Org,C=US", "CN=duke,OU=Other,O=Org,C=US"},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L", "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=SF,ST=CA,C=US", "duke@javasoft"},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/U", "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=SF,ST=CA,C=US", "DUKE@JAVASOFT"},
		{"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L, DEFAULT", "cn=Test User,OU=Engineering", "test"},
		{"RULE:^CN=(.*),O=(.*)$/$1\\/$2/", "CN=alice,O=gregor", "alice/gregor"},
	} {
		m, err := ParseMappingRules(c.rules)
		if err != nil {
			t.Fatalf("%s: %v", c.rules, err)
		}
		if got, err := m.Name(c.dn); err != nil || got != c.want {
			t.Errorf("%s on %s: %q %v, want %q", c.rules, c.dn, got, err, c.want)
		}
	}
	m, _ := ParseMappingRules("RULE:^CN=(.*),OU=ServiceUsers$/$1/")
	if _, err := m.Name("CN=x,OU=Other"); err == nil {
		t.Error("a DN no rule applies to was mapped")
	}
	for _, bad := range []string{"DEFAULTS", "RULE:x", "junk"} {
		if _, err := ParseMappingRules(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
