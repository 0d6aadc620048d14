package broker

// Reloading the topic table on a slave: its topics, configs and dynamic
// broker configs arrive by replication as key/value entries of the commit
// log; after such an entry the slave reads the table again from its store
// (the master wrote the partitions' creation entries before the topic
// record, so the partitions are there by then).

// reload replaces the table with what the store holds now and reports
// whether anything changed. It writes nothing.
func (t *Topics) reload() (bool, error) {
	fresh, err := readTopics(t.store, t.def, t.logger())
	if err != nil {
		return false, err
	}
	t.admin.Lock()
	defer t.admin.Unlock()
	t.mu.Lock()
	changed := len(fresh.byName) != len(t.byName)
	for name, nt := range fresh.byName {
		if ot, ok := t.byName[name]; !ok || ot.ID != nt.ID || ot.Partitions != nt.Partitions || !sameConfigs(ot.Configs, nt.Configs) || !sameInt32s(ot.Owned, nt.Owned) {
			changed = true
		}
	}
	t.byName, t.byID, t.dyn = fresh.byName, fresh.byID, fresh.dyn
	t.mu.Unlock()
	if changed {
		for _, tp := range t.List() {
			t.applyRetention(tp)
		}
		t.changed()
	}
	return changed, nil
}

func sameConfigs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameInt32s(a, b []int32) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
