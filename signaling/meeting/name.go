// Package meeting is what a person meets before a room: meeting codes, room-name normalisation,
// signed invitations, and the HTTP endpoints that create meetings and exchange an invitation for a
// join token.
package meeting

import (
	"crypto/rand"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxRoomRunes bounds a meeting's room name.
const MaxRoomRunes = 128

// MaxNameRunes bounds a display name.
const MaxNameRunes = 64

var folder = cases.Fold()

// NormalizeRoom is the one place a typed meeting name becomes a room name: Unicode NFC, case
// folded, runs of white space made one space, trimmed. "Giao ban sáng thứ Hai" typed in any case,
// composed or decomposed, names the same room.
func NormalizeRoom(s string) string {
	s = norm.NFC.String(s)
	s = folder.String(s)
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	// Folding may leave a sequence that composes differently.
	return norm.NFC.String(s)
}

// ValidRoom reports whether a normalised room name may name a meeting.
func ValidRoom(room string) bool {
	if room == "" || utf8.RuneCountInString(room) > MaxRoomRunes || !utf8.ValidString(room) {
		return false
	}
	for _, r := range room {
		if unicode.IsControl(r) || r == '/' || r == '#' || r == '?' {
			return false
		}
	}
	return true
}

// CleanName tidies a display name: NFC, white space collapsed, control characters removed, at
// most MaxNameRunes runes. Case is kept: it is shown, not compared.
func CleanName(s string) string {
	s = norm.NFC.String(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	if utf8.RuneCountInString(s) > MaxNameRunes {
		s = string([]rune(s)[:MaxNameRunes])
		s = strings.TrimSpace(s)
	}
	return s
}

// codeAlphabet leaves out letters people confuse when reading a code aloud or from a screen.
const codeAlphabet = "abcdefghjkmnpqrstuvwxyz"

// NewCode returns a fresh meeting code of the form abc-defg-hij.
func NewCode() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	var sb strings.Builder
	for i, v := range b {
		if i == 3 || i == 7 {
			sb.WriteByte('-')
		}
		sb.WriteByte(codeAlphabet[int(v)%len(codeAlphabet)])
	}
	return sb.String()
}

// IsCode reports whether s has the shape NewCode makes.
func IsCode(s string) bool {
	if len(s) != 12 || s[3] != '-' || s[8] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 3 || i == 8 {
			continue
		}
		if !strings.ContainsRune(codeAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

// identityFor makes a participant identity from a display name: an ASCII slug of it and a
// random suffix, so two people with one name stay two participants.
func identityFor(name string) string { return identityWith(name, nil) }

// identityWith is identityFor with its suffix taken from seed when given (a device's key), so
// that one browser keeps one identity under one name: what a host's bar holds on to.
func identityWith(name string, seed []byte) string {
	d := norm.NFD.String(strings.ToLower(name))
	var sb strings.Builder
	dash := false
	for _, r := range d {
		switch {
		case r == 'đ':
			r = 'd'
		case unicode.Is(unicode.Mn, r):
			continue
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
		if sb.Len() >= 24 {
			break
		}
	}
	slug := strings.Trim(sb.String(), "-")
	if slug == "" {
		slug = "guest"
	}
	var b [6]byte
	if len(seed) >= len(b) {
		copy(b[:], seed)
	} else {
		_, _ = rand.Read(b[:])
	}
	const abc = "abcdefghijklmnopqrstuvwxyz0123456789"
	suffix := make([]byte, len(b))
	for i, v := range b {
		suffix[i] = abc[int(v)%len(abc)]
	}
	return slug + "-" + string(suffix)
}
