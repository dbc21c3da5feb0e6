package config

import (
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// scalar decodes a plain value into a string, bool, int or float field.
// Strings take any scalar, so `default_room_version: 10` works unquoted;
// numbers and booleans also take quoted forms, since Synapse (Python) is
// just as forgiving and a copied config should not fail on quoting.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	want := map[reflect.Kind]string{
		reflect.String: "a string", reflect.Bool: "true or false",
		reflect.Int: "an integer", reflect.Float64: "a number",
	}[v.Kind()]
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be %s (got %s)", want, describe(n))
		return
	}
	var ok bool
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
		ok = true
	case reflect.Bool:
		var b bool
		if b, ok = parseBool(n.Value); ok {
			v.SetBool(b)
		}
	case reflect.Int:
		i, parsed := parseInt(n.Value)
		if ok = parsed && !v.OverflowInt(i); ok {
			v.SetInt(i)
		}
	case reflect.Float64:
		var f float64
		if f, ok = parseFloat(n.Value); ok {
			v.SetFloat(f)
		}
	default:
		// Only reachable if someone adds a field of a new kind to Config;
		// TestExampleIsDefaults catches that, since the example sets every key.
		d.fail(n, path, "cannot decode into Go type %s", v.Type())
		return
	}
	if !ok {
		d.fail(n, path, "must be %s (got %s)", want, describe(n))
	}
}

// parseBool accepts YAML 1.2 booleans plus YAML 1.1's yes/no/on/off, which
// Synapse's PyYAML reads as booleans and old configs still use.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// parseInt accepts decimal only: a leading zero means nothing special, as
// in YAML 1.2, rather than octal.
func parseInt(s string) (int64, bool) {
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// parseFloat accepts decimal numbers but not NaN or infinities, which would
// make rate limits meaningless.
func parseFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_") {
		return 0, false
	}
	return f, true
}

// fieldByTag finds the struct field whose yaml tag is name.
func fieldByTag(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return i, true
		}
	}
	return 0, false
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// suggest returns ` (did you mean "x"?)` when a known key is within two
// edits of name, which catches most typos without guessing wildly.
func suggest(t reflect.Type, name string) string {
	best, bestDist := "", 3
	for i := range t.NumField() {
		known := yamlName(t.Field(i))
		if d := editDistance(strings.ToLower(name), known); d < bestDist {
			best, bestDist = known, d
		}
	}
	if best == "" {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a typo of any key; avoid quadratic work on junk
	}
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
