package config

import (
	"bytes"
	_ "embed"
	"strconv"
)

//go:embed example.yaml
var example []byte

// placeholderLine is the one line Generate rewrites. Matching the whole
// line, not just CHANGE_ME, leaves any mention in comments alone.
const placeholderLine = `registration_shared_secret: "CHANGE_ME"`

// Example returns the commented example gatehouse.yaml: every key with its
// default value and an explanation. generate-config prints it, and
// deploy/gatehouse.yaml is a golden copy of it. The registration secret is
// the placeholder "CHANGE_ME".
func Example() []byte {
	return bytes.Clone(example)
}

// Generate returns Example() with registration_shared_secret set to secret.
// It is what Gatehouse writes on first start, so a fresh install never runs
// with the well-known placeholder as its secret.
func Generate(secret string) []byte {
	// strconv.Quote's escapes (\", \\, \n, \xNN, \uNNNN) are all valid in
	// a YAML double-quoted scalar, so any secret survives the round trip.
	line := "registration_shared_secret: " + strconv.Quote(secret)
	return bytes.Replace(Example(), []byte(placeholderLine), []byte(line), 1)
}
