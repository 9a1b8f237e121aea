package problem

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// xmlNamespace is the namespace of RFC 9457 Appendix B (unchanged from RFC 7807).
const xmlNamespace = "urn:ietf:rfc:7807"

// appendXML appends the XML form of RFC 9457 Appendix B: a <problem>
// element in the urn:ietf:rfc:7807 namespace with the standard members and
// the extension members as children. Extension values are put in their JSON
// form first; objects become elements with one child per member, arrays
// become elements whose children are all named <i>. Extension names that
// are not XML names are left out (RFC 9457 §4).
func (p *Problem) appendXML(b []byte, extraName string, extraValue []byte) ([]byte, error) {
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<problem xmlns="`+xmlNamespace+`">`...)
	b = appendXMLElement(b, "type", p.typeURI())
	if t := p.title(); t != "" {
		b = appendXMLElement(b, "title", t)
	}
	if p.Status != 0 {
		b = append(b, "<status>"...)
		b = strconv.AppendInt(b, int64(p.Status), 10)
		b = append(b, "</status>"...)
	}
	if p.Detail != "" {
		b = appendXMLElement(b, "detail", p.Detail)
	}
	if p.Instance != "" {
		b = appendXMLElement(b, "instance", p.Instance)
	}
	if len(p.Extensions) > 0 {
		names := make([]string, 0, len(p.Extensions))
		for name := range p.Extensions {
			if isReserved(name) {
				return nil, &ReservedMemberError{Name: name}
			}
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if !isXMLName(name) {
				continue // RFC 9457 §4: such names cannot be carried in XML
			}
			v, err := jsonValue(p.Extensions[name])
			if err != nil {
				return nil, errors.Join(errors.New("problem: extension member "+strconv.Quote(name)), err)
			}
			b = appendXMLValue(b, name, v)
		}
	}
	if extraName != "" && isXMLName(extraName) {
		if _, taken := p.Extensions[extraName]; !taken {
			b = appendXMLElement(b, extraName, string(extraValue))
		}
	}
	return append(b, "</problem>"...), nil
}

// jsonValue turns v into the generic value its JSON form decodes to. A
// value that has no JSON form (NaN, an infinity, a channel) is an error,
// as it is for [Problem.MarshalJSON]: a problem is encodable in both forms
// or in neither, so it is written with the same status whatever the
// client accepts.
func jsonValue(v any) (any, error) {
	switch v.(type) {
	case string, bool, nil, int, int64:
		return v, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

func appendXMLValue(b []byte, name string, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			if isXMLName(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		b = append(b, '<')
		b = append(b, name...)
		b = append(b, '>')
		for _, k := range keys {
			b = appendXMLValue(b, k, v[k])
		}
		return appendXMLEnd(b, name)
	case []any:
		b = append(b, '<')
		b = append(b, name...)
		b = append(b, '>')
		for _, item := range v {
			b = appendXMLValue(b, "i", item)
		}
		return appendXMLEnd(b, name)
	case nil:
		b = append(b, '<')
		b = append(b, name...)
		return append(b, "/>"...)
	case string:
		return appendXMLElement(b, name, v)
	case bool:
		return appendXMLElement(b, name, strconv.FormatBool(v))
	case json.Number:
		return appendXMLElement(b, name, v.String())
	case int:
		return appendXMLElement(b, name, strconv.Itoa(v))
	case int64:
		return appendXMLElement(b, name, strconv.FormatInt(v, 10))
	}
	return b
}

func appendXMLElement(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	var w bytesWriter
	w.b = b
	_ = xml.EscapeText(&w, []byte(text))
	return appendXMLEnd(w.b, name)
}

func appendXMLEnd(b []byte, name string) []byte {
	b = append(b, '<', '/')
	b = append(b, name...)
	return append(b, '>')
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// isXMLName reports whether s is a valid XML element name without a colon
// (a namespace prefix would leave the problem's namespace). A name with
// characters beyond ASCII must also be one that encoding/xml reads (it
// follows the stricter name rules of XML 1.0 before the fifth edition), so
// that [Parse] and older XML parsers read back what [Write] writes.
func isXMLName(s string) bool {
	if s == "" || len(s) >= 3 && (s[0] == 'x' || s[0] == 'X') && (s[1] == 'm' || s[1] == 'M') && (s[2] == 'l' || s[2] == 'L') {
		return false
	}
	ascii := true
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r)):
		default:
			return false
		}
		if r == utf8.RuneError {
			return false
		}
		if r >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		return true
	}
	tok, err := xml.NewDecoder(strings.NewReader("<" + s + "/>")).Token()
	se, ok := tok.(xml.StartElement)
	return err == nil && ok && se.Name.Space == "" && se.Name.Local == s
}

// unmarshalXML decodes the Appendix B form leniently, like UnmarshalJSON.
func (p *Problem) unmarshalXML(data []byte) error {
	// A byte order mark may open a UTF-8 document (XML 1.0 section 4.3.3);
	// encoding/xml passes it on as character data.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "problem" {
				return errors.New("problem: XML root element is not <problem>")
			}
			break
		}
		if _, ok := tok.(xml.Directive); !ok && !isMisc(tok) {
			return errXMLOutsideRoot
		}
	}
	*p = Problem{Type: BlankType}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return xmlEpilog(d)
		case xml.StartElement:
			v, err := xmlElementValue(d, 2)
			if err != nil {
				return err
			}
			s, isText := v.(string)
			switch name := t.Name.Local; name {
			case "type", "title", "detail", "instance":
				if isText {
					switch name {
					case "type": // xsd:anyURI, whose white space collapses
						p.Type = strings.TrimSpace(s)
					case "title":
						p.Title = s
					case "detail":
						p.Detail = s
					case "instance":
						p.Instance = strings.TrimSpace(s)
					}
				}
			case "status": // xsd:positiveInteger, whose white space collapses
				if code, err := strconv.Atoi(strings.TrimSpace(s)); isText && err == nil && code >= 100 && code <= 999 {
					p.Status = code
				}
			default:
				p.With(name, v)
			}
		}
	}
}

// errXMLOutsideRoot reports text or an element outside <problem>: the
// document is not well formed (XML 1.0 §2.1), as JSON with data after the
// object is not.
var errXMLOutsideRoot = errors.New("problem: XML data outside the <problem> element")

// isMisc reports whether tok may stand before or after the root element:
// white space, a comment or a processing instruction.
func isMisc(tok xml.Token) bool {
	switch t := tok.(type) {
	case xml.CharData:
		return len(bytes.TrimLeft(t, " \t\r\n")) == 0
	case xml.Comment, xml.ProcInst:
		return true
	}
	return false
}

// xmlEpilog reads what follows the root element to the end of the document.
func xmlEpilog(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !isMisc(tok) {
			return errXMLOutsideRoot
		}
	}
}

// maxXMLDepth bounds the nesting of elements that unmarshalXML accepts,
// <problem> included: the limit encoding/json puts on JSON, so that a
// hostile document costs neither side more stack or time in XML.
const maxXMLDepth = 10000

// errXMLDepth reports a document nested deeper than maxXMLDepth.
var errXMLDepth = errors.New("problem: XML nested deeper than " + strconv.Itoa(maxXMLDepth) + " elements")

// xmlElementValue reads the rest of an element at nesting depth (<problem>
// is 1): its text when it has no child elements, a []any when every child
// is <i>, else a map[string]any.
func xmlElementValue(d *xml.Decoder, depth int) (any, error) {
	if depth > maxXMLDepth {
		return nil, errXMLDepth
	}
	var text []byte
	var children map[string]any
	var items []any
	allItems := true
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.StartElement:
			v, err := xmlElementValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			if t.Name.Local != "i" {
				allItems = false
			}
			items = append(items, v)
			if children == nil {
				children = make(map[string]any)
			}
			children[t.Name.Local] = v
		case xml.EndElement:
			switch {
			case items == nil:
				return string(text), nil
			case allItems:
				return items, nil
			default:
				return children, nil
			}
		}
	}
}
