package problem

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MarshalJSON encodes p as one flat JSON object: type (about:blank when
// empty), title (the status text for about:blank), status, detail and
// instance when set, then the extension members sorted by name. It returns a
// *[ReservedMemberError] when an extension is named like a standard member.
func (p *Problem) MarshalJSON() ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 256), "", nil)
}

// appendJSON appends p's JSON form to b. When extraName is not empty and p
// has no extension of that name, it adds extraName with the string value
// extraValue, which must need no escaping (the hex trace id).
func (p *Problem) appendJSON(b []byte, extraName string, extraValue []byte) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = appendString(b, p.typeURI())
	if t := p.title(); t != "" {
		b = append(b, `,"title":`...)
		b = appendString(b, t)
	}
	if p.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(p.Status), 10)
	}
	if p.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, p.Detail)
	}
	if p.Instance != "" {
		b = append(b, `,"instance":`...)
		b = appendString(b, p.Instance)
	}
	if len(p.Extensions) > 0 {
		var err error
		if b, err = p.appendExtensions(b); err != nil {
			return nil, err
		}
	}
	if extraName != "" {
		if _, taken := p.Extensions[extraName]; !taken {
			b = append(b, ',')
			b = appendString(b, extraName)
			b = append(b, ':', '"')
			b = append(b, extraValue...)
			b = append(b, '"')
		}
	}
	return append(b, '}'), nil
}

func (p *Problem) appendExtensions(b []byte) ([]byte, error) {
	var stack [8]string
	names := stack[:0]
	for name := range p.Extensions {
		if isReserved(name) {
			return nil, &ReservedMemberError{Name: name}
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b = append(b, ',')
		b = appendString(b, name)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, p.Extensions[name]); err != nil {
			return nil, errors.Join(errors.New("problem: extension member "+strconv.Quote(name)), err)
		}
	}
	return b, nil
}

// appendValue appends v's JSON form, writing the common scalar types
// directly and everything else through encoding/json.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendString(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case nil:
		return append(b, "null"...), nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, raw...), nil
}

// UnmarshalJSON decodes a problem leniently, as RFC 9457 §3.1 requires of
// consumers: a standard member of the wrong JSON type is ignored as if it
// were absent, a missing type becomes about:blank, and every other member is
// kept in Extensions (numbers as json.Number, so they survive a round trip
// exactly). Only input that is not one JSON object is an error.
func (p *Problem) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var members map[string]any
	if err := dec.Decode(&members); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("problem: data after the JSON object")
	}
	if members == nil {
		return errors.New("problem: JSON value is not an object")
	}
	*p = Problem{Type: BlankType}
	for name, v := range members {
		switch name {
		case "type":
			if s, ok := v.(string); ok {
				p.Type = s
			}
		case "title":
			if s, ok := v.(string); ok {
				p.Title = s
			}
		case "detail":
			if s, ok := v.(string); ok {
				p.Detail = s
			}
		case "instance":
			if s, ok := v.(string); ok {
				p.Instance = s
			}
		case "status":
			if n, ok := v.(json.Number); ok {
				if code, err := strconv.Atoi(string(n)); err == nil && code >= 100 && code <= 999 {
					p.Status = code
				}
			}
		default:
			p.With(name, v)
		}
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping exactly as encoding/json
// does by default (HTML-safe, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD), so a problem reads the same whichever path wrote it.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
