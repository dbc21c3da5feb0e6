// Package deploy_test checks the files in deploy/ against the code that
// generates them, so the example config shipped to admins never drifts
// from what generate-config prints.
package deploy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-chat/gatehouse/core/config"
)

func TestGatehouseYAMLIsExample(t *testing.T) {
	got, err := os.ReadFile("gatehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, config.Example()) {
		t.Errorf("deploy/gatehouse.yaml differs from config.Example(); regenerate it with\n" +
			"\tgo run -tags goolm ./cmd/gatehouse generate-config > deploy/gatehouse.yaml")
	}
}

// The container recipe must build the way the Makefile does: cgo on (bridge
// encryption) and the goolm tag (pure-Go olm).
func TestDockerfileBuildFlags(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=1", "-tags goolm", "./cmd/gatehouse", "golang:1.27.3"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !bytes.Contains(mk, []byte("TAGS := -tags goolm")) || !bytes.Contains(mk, []byte("GOTOOLCHAIN := go1.27.3")) {
		t.Error("Makefile no longer builds with goolm and go1.27.3; update the Dockerfile with it")
	}
}

// The compose file must be valid YAML naming both services, and the config
// it tells admins to write must load.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	if compose.Services["postgres"].Image == "" || len(compose.Services["gatehouse"].Command) == 0 {
		t.Fatalf("services: %+v", compose.Services)
	}
	cfg := strings.Replace(string(config.Example()), "name: sqlite3", "name: postgres", 1)
	cfg = strings.Replace(cfg, `dsn: ""`, `dsn: "postgres://gatehouse:CHANGE_ME@postgres/gatehouse?sslmode=disable"`, 1)
	cfg = strings.Replace(cfg, "bind_addresses: ['127.0.0.1']", "bind_addresses: ['0.0.0.0']", 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("the config the compose file describes does not load: %v", err)
	}
	if !c.IsPostgres() || c.Listeners[0].BindAddresses[0] != "0.0.0.0" {
		t.Fatalf("edits did not apply: %+v", c.Listeners)
	}
}
