package events

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"

	"maunium.net/go/mautrix/crypto/canonicaljson"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"
)

// Encoded is a signed event in the forms the send path stores.
type Encoded struct {
	ID id.EventID
	// PDU is the federation JSON, with hashes and signatures.
	PDU []byte
	// Client is the client-server JSON without "unsigned" (see ClientJSON).
	Client []byte
}

// SignAndEncode fills p's hashes and signature like Sign and returns the
// event ID with the federation and client JSON, for rooms of version 3 and
// later. It gives the same hashes, signature and event ID as Sign, but
// canonicalises the content once and writes the envelope directly, where
// Sign, EncodePDU and ClientJSON marshal the whole event five times. Events
// with fields the direct writer does not know (or strings it would have to
// escape) take the Sign path. Oversized events return ErrTooLarge.
func SignAndEncode(p *pdu.PDU, version id.RoomVersion, serverName string, key *SigningKey) (Encoded, error) {
	if !directEncodable(p, serverName, key) {
		return signAndEncodeSlow(p, version, serverName, key)
	}
	content := p.Content
	if len(content) == 0 {
		content = []byte("{}")
	}
	canonContent, err := canonicaljson.CanonicalJSON(content)
	if err != nil {
		return Encoded{}, fmt.Errorf("sign event: %w", err)
	}
	// Content hash: the full event without hashes, signatures and unsigned.
	buf := make([]byte, 0, 2*len(canonContent)+512)
	buf = appendEnvelope(buf, formHashed, p, canonContent, nil, "", "", nil)
	hash := sha256.Sum256(buf)

	// Signature and reference hash share one encoding: the redacted event
	// with hashes and without signatures.
	redacted := pdu.RedactContent(p.Type, canonContent, version)
	if len(redacted) != len(canonContent) || string(redacted) != string(canonContent) {
		// Redaction keeps canonical members of a canonical object, but
		// sjson may lay them out differently.
		if redacted, err = canonicaljson.CanonicalJSON(redacted); err != nil {
			return Encoded{}, fmt.Errorf("sign event: %w", err)
		}
	}
	buf = appendEnvelope(buf[:0], formSigned, p, redacted, hash[:], "", "", nil)
	sig := base64.RawStdEncoding.EncodeToString(ed25519.Sign(key.Priv, buf))
	ref := sha256.Sum256(buf)
	eventID := make([]byte, 44)
	eventID[0] = '$'
	switch version.EventIDFormat() {
	case id.EventIDFormatBase64:
		base64.RawStdEncoding.Encode(eventID[1:], ref[:])
	case id.EventIDFormatURLSafeBase64:
		base64.RawURLEncoding.Encode(eventID[1:], ref[:])
	default:
		return signAndEncodeSlow(p, version, serverName, key)
	}
	p.Hashes = &pdu.Hashes{SHA256: hash[:]}
	p.AddSignature(serverName, key.ID, sig)

	full := appendEnvelope(make([]byte, 0, len(canonContent)+len(buf)+160), formFull, p, canonContent, hash[:], serverName, string(key.ID), []byte(sig))
	if len(full) > MaxEventSize {
		return Encoded{}, ErrTooLarge
	}
	ev := Encoded{ID: id.EventID(eventID), PDU: full}
	ev.Client = appendClient(make([]byte, 0, len(canonContent)+len(eventID)+len(p.RoomID)+len(p.Sender)+len(p.Type)+96), p, canonContent, ev.ID)
	return ev, nil
}

// signAndEncodeSlow is SignAndEncode through the library's marshalling.
func signAndEncodeSlow(p *pdu.PDU, version id.RoomVersion, serverName string, key *SigningKey) (Encoded, error) {
	eventID, err := Sign(p, version, serverName, key)
	if err != nil {
		return Encoded{}, err
	}
	pduJSON, err := EncodePDU(p)
	if err != nil {
		return Encoded{}, err
	}
	client, err := ClientJSON(p, eventID)
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{ID: eventID, PDU: pduJSON, Client: client}, nil
}

// directEncodable reports whether appendEnvelope writes p exactly as the
// canonical JSON encoder would: no fields beyond those it writes, and only
// strings that need no escaping.
func directEncodable(p *pdu.PDU, serverName string, key *SigningKey) bool {
	if p.Hashes != nil || len(p.Signatures) > 0 || len(p.Unsigned) > 0 || len(p.Unknown) > 0 || len(p.Sticky) > 0 ||
		len(p.DeprecatedPrevState) > 0 || len(p.DeprecatedOrigin) > 0 || len(p.DeprecatedMembership) > 0 || p.RoomID == "" {
		return false
	}
	ok := plainString(string(p.RoomID)) && plainString(string(p.Sender)) && plainString(p.Type) &&
		plainString(serverName) && plainString(string(key.ID))
	if p.StateKey != nil {
		ok = ok && plainString(*p.StateKey)
	}
	if p.Redacts != nil {
		ok = ok && plainString(string(*p.Redacts))
	}
	for _, e := range p.AuthEvents {
		ok = ok && plainString(string(e))
	}
	for _, e := range p.PrevEvents {
		ok = ok && plainString(string(e))
	}
	return ok
}

// plainString reports whether s is printable ASCII without quote or
// backslash, so its JSON form is s in quotes under any escaping rules.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// envelopeForm selects which of an event's canonical encodings to write.
type envelopeForm uint8

const (
	formHashed envelopeForm = iota // what the content hash covers: no hashes, signatures or unsigned
	formSigned                     // what is signed and reference-hashed: redacted, with hashes, no signatures
	formFull                       // the federation PDU: with hashes and signatures
)

// appendEnvelope writes p as canonical JSON (keys in byte order) in form,
// with content already in the form's (canonical) shape.
func appendEnvelope(b []byte, form envelopeForm, p *pdu.PDU, content, hash []byte, serverName, keyID string, sig []byte) []byte {
	b = append(b, `{"auth_events":`...)
	b = appendIDs(b, p.AuthEvents)
	b = append(b, `,"content":`...)
	b = append(b, content...)
	b = append(b, `,"depth":`...)
	b = strconv.AppendInt(b, p.Depth, 10)
	if form != formHashed {
		b = append(b, `,"hashes":{"sha256":"`...)
		b = base64.RawStdEncoding.AppendEncode(b, hash)
		b = append(b, `"}`...)
	}
	b = append(b, `,"origin_server_ts":`...)
	b = strconv.AppendInt(b, p.OriginServerTS, 10)
	b = append(b, `,"prev_events":`...)
	b = appendIDs(b, p.PrevEvents)
	if p.Redacts != nil && form != formSigned {
		// Redaction drops the top-level "redacts".
		b = appendField(b, "redacts", string(*p.Redacts))
	}
	b = appendField(b, "room_id", string(p.RoomID))
	b = appendField(b, "sender", string(p.Sender))
	if form == formFull {
		b = append(b, `,"signatures":{"`...)
		b = append(b, serverName...)
		b = append(b, `":{"`...)
		b = append(b, keyID...)
		b = append(b, `":"`...)
		b = append(b, sig...)
		b = append(b, `"}}`...)
	}
	if p.StateKey != nil {
		b = appendField(b, "state_key", *p.StateKey)
	}
	b = appendField(b, "type", p.Type)
	return append(b, '}')
}

// appendClient writes the clientEvent rendering of p (see ClientJSON).
func appendClient(b []byte, p *pdu.PDU, content []byte, eventID id.EventID) []byte {
	b = append(b, `{"content":`...)
	b = append(b, content...)
	b = appendField(b, "event_id", string(eventID))
	b = append(b, `,"origin_server_ts":`...)
	b = strconv.AppendInt(b, p.OriginServerTS, 10)
	b = appendField(b, "room_id", string(p.RoomID))
	b = appendField(b, "sender", string(p.Sender))
	if p.StateKey != nil {
		b = appendField(b, "state_key", *p.StateKey)
	}
	b = appendField(b, "type", p.Type)
	if p.Redacts != nil {
		b = appendField(b, "redacts", string(*p.Redacts))
	}
	return append(b, '}')
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	b = append(b, value...)
	return append(b, '"')
}

func appendIDs(b []byte, ids []id.EventID) []byte {
	b = append(b, '[')
	for i, e := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, e...)
		b = append(b, '"')
	}
	return append(b, ']')
}
