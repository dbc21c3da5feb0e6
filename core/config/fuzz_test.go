package config

import (
	"errors"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzLoad feeds arbitrary bytes to the loader. It must never panic, must
// fail only with *Errors, and whatever it accepts must survive a
// marshal/parse round trip unchanged (so printing the effective config is
// faithful) and validate again.
//
//	go test -tags goolm -run '^$' -fuzz FuzzLoad ./core/config
func FuzzLoad(f *testing.F) {
	f.Add(Example())
	f.Add([]byte(""))
	f.Add([]byte("server_name: example.org:8448\nmax_upload_size: 10K\nturn_user_lifetime: 500ms\n"))
	f.Add([]byte("bridges:\n  discord:\n    enabled: true\n    network: {token: x}\n"))
	f.Add([]byte("database: {name: psycopg2, args: {database: gh, cp_min: 1, cp_max: 1}}\n"))
	f.Add([]byte("listeners: [{port: 70000, resources: [{names: [x]}]}]\ndatabase: {nme: x}\n"))
	f.Add([]byte("a: &a [*a]\nrc_message: &b {<<: *b}\n"))
	f.Add([]byte("rc_login: {address: {per_second: 1e3}}\nip_range_blacklist: ['::/0']\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "f.yaml", "/fuzz")
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) == 0 {
				t.Fatalf("error %T %v, want non-empty *Errors", err, err)
			}
			return
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := parse(out, "f.yaml", "/fuzz")
		if err != nil {
			t.Fatalf("accepted config does not reload:\n%s\n%v", out, err)
		}
		// Bridge sections stay raw YAML nodes, whose line numbers move in
		// the round trip: compare what they say instead.
		b1, _ := yaml.Marshal(c.Bridges)
		b2, _ := yaml.Marshal(again.Bridges)
		if string(b1) != string(b2) {
			t.Fatalf("round trip changed bridges:\n%s\n%s", b1, b2)
		}
		c.Bridges, again.Bridges = nil, nil
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, again)
		}
	})
}
