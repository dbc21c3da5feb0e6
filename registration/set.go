package registration

import (
	"errors"
	"fmt"
)

// LoadFiles loads every file in app_service_config_files and checks them
// against each other for serverName. It reports every problem in every
// file at once; the error, if any, is an *Errors, and no registration is
// returned with it: the server must not start with some appservices
// silently missing.
func LoadFiles(paths []string, serverName string) ([]*Registration, error) {
	var regs []*Registration
	var all []Problem
	for _, path := range paths {
		r, err := LoadFile(path)
		if err != nil {
			all = append(all, err.(*Errors).Problems...)
			continue
		}
		regs = append(regs, r)
	}
	if err := ValidateSet(regs, serverName); err != nil {
		all = append(all, err.(*Errors).Problems...)
	}
	if len(all) > 0 {
		return nil, &Errors{Problems: all}
	}
	return regs, nil
}

// ValidateSet checks registrations that each passed Validate against each
// other: IDs and as_tokens must be unique, two appservices' exclusive
// namespaces must not overlap, and no appservice's sender may sit in
// another's exclusive user namespace. Overlaps between an exclusive and a
// non-exclusive namespace are fine: that is how the standard double-puppet
// registration (@.* non-exclusive) coexists with bridges.
func ValidateSet(regs []*Registration, serverName string) error {
	var all []Problem
	add := func(r *Registration, key, format string, args ...any) {
		all = append(all, Problem{File: r.name(), Line: r.lines[key], Path: key, Msg: fmt.Sprintf(format, args...)})
	}
	for i, a := range regs {
		for _, b := range regs[:i] {
			if a.ID == b.ID {
				add(a, "id", "appservice ID %q is already used by %s", a.ID, b.name())
			}
			if a.ASToken == b.ASToken {
				add(a, "as_token", "the same as_token is already used by %s (%s)", b.name(), b.ID)
			}
			all = append(all, overlaps(a, b)...)
		}
	}
	for _, a := range regs {
		for _, b := range regs {
			if a == b {
				continue
			}
			sender := string(b.SenderUserID(serverName))
			for i, ns := range a.Namespaces.Users {
				if ns.Exclusive && ns.Matches(sender) {
					key := fmt.Sprintf("namespaces.users[%d].regex", i)
					add(a, key, "exclusive namespace %q claims %s, the sender of appservice %q (%s)", ns.Regex, sender, b.ID, b.name())
				}
			}
		}
	}
	return errorsOrNil(all)
}

// overlaps reports a's exclusive namespaces that overlap b's.
func overlaps(a, b *Registration) []Problem {
	var out []Problem
	kinds := []struct {
		key    string
		na, nb []Namespace
	}{
		{"users", a.Namespaces.Users, b.Namespaces.Users},
		{"aliases", a.Namespaces.Aliases, b.Namespaces.Aliases},
		{"rooms", a.Namespaces.Rooms, b.Namespaces.Rooms},
	}
	for _, k := range kinds {
		for i, x := range k.na {
			if !x.Exclusive {
				continue
			}
			for j, y := range k.nb {
				if !y.Exclusive {
					continue
				}
				key := fmt.Sprintf("namespaces.%s[%d].regex", k.key, i)
				hit, err := Overlap(x.Regex, y.Regex)
				if errors.Is(err, ErrTooComplex) {
					out = append(out, Problem{File: a.name(), Line: a.lines[key], Path: key, Msg: fmt.Sprintf(
						"cannot check exclusive namespace %q against %q of appservice %q: %v", x.Regex, y.Regex, b.ID, err)})
					continue
				}
				if err != nil || !hit {
					continue // a bad regex is reported by Validate
				}
				out = append(out, Problem{File: a.name(), Line: a.lines[key], Path: key, Msg: fmt.Sprintf(
					"exclusive namespace %q overlaps exclusive namespace %q (namespaces.%s[%d]) of appservice %q in %s",
					x.Regex, y.Regex, k.key, j, b.ID, b.name())})
			}
		}
	}
	return out
}
