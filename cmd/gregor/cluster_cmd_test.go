package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/nameserver"
)

// gregor cluster members: one line per member of every group, the
// in-sync column and lags from its master's registration, "no master"
// for a group without one, other clusters left out with --cluster.
func TestPrintMembers(t *testing.T) {
	reg := func(cluster, group string, id int64, node int32, role nameserver.Role, epoch int32, end int64) nameserver.Broker {
		return nameserver.Broker{Registration: nameserver.Registration{Cluster: cluster, BrokerName: group, BrokerID: id,
			NodeID: node, Role: role, MasterEpoch: epoch, LogEnd: end, HTTPAddr: "h:" + string(rune('0'+node))}}
	}
	m := reg("c", "a", 0, 1, nameserver.RoleMaster, 3, 900)
	m.InSync = []int64{0, 1}
	m.Slaves = []nameserver.SlaveState{{Member: 1, InSync: true, LagBytes: 12, LagMs: 5}, {Member: 2, LagBytes: 4096, LagMs: 7000}}
	routes := nameserver.Routes{Brokers: []nameserver.Broker{
		reg("c", "a", 2, 3, nameserver.RoleSlave, 3, 100),
		m,
		reg("c", "a", 1, 2, nameserver.RoleSlave, 3, 888),
		reg("c", "b", 1, 5, nameserver.RoleSlave, 1, 50),
		reg("other", "z", 0, 9, nameserver.RoleMaster, 0, 1),
	}}
	var out bytes.Buffer
	if err := printMembers(&out, routes, "c"); err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		rows = append(rows, strings.Fields(l))
	}
	want := [][]string{
		{"a", "0", "1", "master", "3", "900", "yes", "0", "0", "h:1"},
		{"a", "1", "2", "slave", "3", "888", "yes", "12", "5", "h:2"},
		{"a", "2", "3", "slave", "3", "100", "no", "4096", "7000", "h:3"},
		{"b", "1", "5", "slave", "1", "50", "no", "master", "-", "-", "h:5"},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows:\n%s", out.String())
	}
	for i := range want {
		if strings.Join(rows[i], " ") != strings.Join(want[i], " ") {
			t.Fatalf("row %d: %q, want %q\n%s", i, rows[i], want[i], out.String())
		}
	}
}
