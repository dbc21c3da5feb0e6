package config

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ByteSize
		wantErr string
	}{
		{"0", 0, ""},
		{"512", 512, ""},
		{"10K", 10 * KiB, ""},
		{"10k", 10 * KiB, ""},
		{"50M", 50 * MiB, ""},
		{"1G", GiB, ""},
		{"8589934591G", 8589934591 * GiB, ""},
		{"", 0, `invalid size "": empty value`},
		{"50Q", 0, `invalid size "50Q": unknown suffix "Q" (use bytes, or a number followed by K, M or G)`},
		{"50MB", 0, `unknown suffix "MB"`},
		{"1.5M", 0, `unknown suffix ".5M"`},
		{"M", 0, `invalid size "M": missing number`},
		{"-5", 0, `invalid size "-5": must not be negative`},
		{"-5M", 0, `must not be negative`},
		{"8589934592G", 0, `invalid size "8589934592G": too large`},
		{"99999999999999999999", 0, `too large`},
		{" 5M", 0, `missing number`},
	} {
		got, err := ParseByteSize(tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseByteSize(%q) error = %v; want it to contain %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"0", 0, ""},
		{"1500", 1500 * time.Millisecond, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"30s", 30 * time.Second, ""},
		{"5m", 5 * time.Minute, ""},
		{"1h", time.Hour, ""},
		{"2d", 2 * day, ""},
		{"1w", 7 * day, ""},
		{"1y", 365 * day, ""},
		{"", 0, `invalid duration "": empty value`},
		{"1H", 0, `unknown suffix "H"`},
		{"5x", 0, `invalid duration "5x": unknown suffix "x" (use milliseconds, or a number followed by ms, s, m, h, d, w or y)`},
		{"1h30m", 0, `unknown suffix "h30m"`},
		{"-1h", 0, `must not be negative`},
		{"h", 0, `missing number`},
		{"300y", 0, `too large`},
	} {
		got, err := ParseDuration(tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || time.Duration(got) != tc.want):
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, time.Duration(got), err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseDuration(%q) error = %v; want it to contain %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestUnitStrings(t *testing.T) {
	for _, tc := range []struct {
		v    interface{ String() string }
		want string
	}{
		{ByteSize(0), "0"}, {ByteSize(1536), "1536"}, {2 * KiB, "2K"}, {50 * MiB, "50M"},
		{1024 * MiB, "1G"}, {Duration(0), "0"}, {Duration(1500 * time.Millisecond), "1500ms"},
		{Duration(90 * time.Second), "90s"}, {Duration(time.Hour), "1h"}, {Duration(48 * time.Hour), "2d"},
		{Duration(14 * 24 * time.Hour), "2w"}, {Duration(365 * 24 * time.Hour), "1y"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestUnitsYAML checks both types work with plain yaml.v3 too, for
// callers that marshal a Config (e.g. to print the effective config).
func TestUnitsYAML(t *testing.T) {
	type doc struct {
		Size ByteSize `yaml:"size"`
		Dur  Duration `yaml:"dur"`
	}
	for _, tc := range []struct {
		in   string
		want doc
	}{
		{"size: 1024\ndur: 1500\n", doc{KiB, Duration(1500 * time.Millisecond)}},
		{"size: 10M\ndur: 2h\n", doc{10 * MiB, Duration(2 * time.Hour)}},
		{"size: '7'\ndur: '7s'\n", doc{7, Duration(7 * time.Second)}},
	} {
		var got doc
		if err := yaml.Unmarshal([]byte(tc.in), &got); err != nil || got != tc.want {
			t.Errorf("Unmarshal(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		out, err := yaml.Marshal(got)
		var back doc
		if err != nil || yaml.Unmarshal(out, &back) != nil || back != got {
			t.Errorf("round trip of %+v via %q gave %+v", got, out, back)
		}
	}
	var d doc
	if err := yaml.Unmarshal([]byte("size: {a: 1}\n"), &d); err == nil || !strings.Contains(err.Error(), "must be a number such as 50M") {
		t.Errorf("mapping as size: err = %v", err)
	}
	if err := yaml.Unmarshal([]byte("dur: [1]\n"), &d); err == nil || !strings.Contains(err.Error(), "must be a value such as 1h") {
		t.Errorf("list as duration: err = %v", err)
	}
}
