// Package deploy_test checks the files in deploy/ against the code that
// generates them, so the example config shipped to admins never drifts
// from what generate-config prints.
package deploy_test

import (
	"bytes"
	"os"
	"testing"

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
