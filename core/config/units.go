package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ByteSize is a number of bytes written the way Synapse writes sizes: a
// plain integer, or an integer with a K, M or G suffix ("50M"). Suffixes are
// binary (K = 1024) as in Synapse, so copied values keep their meaning.
type ByteSize int64

// Binary size units, for writing defaults and tests readably.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

var sizeUnits = []struct {
	suffix string
	size   ByteSize
}{{"G", GiB}, {"M", MiB}, {"K", KiB}}

// ParseByteSize parses "512", "10K", "50M" or "1G" (suffixes in either
// case). Negative sizes and unknown suffixes are errors that say what is
// accepted.
func ParseByteSize(s string) (ByteSize, error) {
	num, suffix := splitNumber(s)
	unit, ok := ByteSize(1), suffix == ""
	for _, u := range sizeUnits {
		if strings.EqualFold(suffix, u.suffix) {
			unit, ok = u.size, true
		}
	}
	n, err := parseCount(num, suffix, ok)
	if err == nil && n > math.MaxInt64/int64(unit) {
		err = errors.New("too large")
	}
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w (use bytes, or a number followed by K, M or G)", s, err)
	}
	return ByteSize(n) * unit, nil
}

// String formats b with the largest suffix that divides it exactly, so
// String and ParseByteSize round-trip.
func (b ByteSize) String() string {
	for _, u := range sizeUnits {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML accepts an integer number of bytes or a suffixed string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("invalid size: must be a number such as 50M (got %s)", describe(n))
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML writes b the way String does, so a written config reads like
// a hand-written one.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// Duration is a time span written the way Synapse writes durations: a plain
// integer is milliseconds, and a string takes one of the suffixes ms, s, m,
// h, d, w or y (365 days).
type Duration time.Duration

// durationUnits is ordered largest first so String picks the largest unit.
var durationUnits = []struct {
	suffix string
	size   time.Duration
}{
	{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour},
	{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond},
}

// ParseDuration parses "1500", "500ms", "30s", "5m", "1h", "2d", "1w" or "1y".
// Suffixes are case-sensitive as in Synapse, where "m" is minutes.
func ParseDuration(s string) (Duration, error) {
	num, suffix := splitNumber(s)
	unit, ok := time.Millisecond, suffix == ""
	for _, u := range durationUnits {
		if suffix == u.suffix {
			unit, ok = u.size, true
		}
	}
	n, err := parseCount(num, suffix, ok)
	if err == nil && n > math.MaxInt64/int64(unit) {
		err = errors.New("too large")
	}
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w (use milliseconds, or a number followed by ms, s, m, h, d, w or y)", s, err)
	}
	return Duration(time.Duration(n) * unit), nil
}

// String formats d with the largest unit that divides it exactly, so String
// and ParseDuration round-trip.
func (d Duration) String() string {
	for _, u := range durationUnits {
		if d != 0 && time.Duration(d)%u.size == 0 {
			return strconv.FormatInt(int64(time.Duration(d)/u.size), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(time.Duration(d)/time.Millisecond), 10)
}

// UnmarshalYAML accepts integer milliseconds or a suffixed string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("invalid duration: must be a value such as 1h (got %s)", describe(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d the way String does.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// splitNumber splits s into its leading digits and whatever follows.
func splitNumber(s string) (num, suffix string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// parseCount reads the digits in front of a unit. Only plain digits are
// accepted: "0x10M", "1.5h" or "1_000K" are more likely typos than intent,
// and Synapse rejects them too.
func parseCount(num, suffix string, knownSuffix bool) (int64, error) {
	switch {
	case num == "" && strings.HasPrefix(suffix, "-"):
		return 0, errors.New("must not be negative")
	case num == "" && suffix == "":
		return 0, errors.New("empty value")
	case num == "":
		return 0, errors.New("missing number")
	case !knownSuffix:
		return 0, fmt.Errorf("unknown suffix %q", suffix)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, errors.New("too large")
	}
	return n, nil
}
