package problem

import "strings"

// prefersXML reports whether the Accept field values give
// application/problem+xml (or application/xml) a higher quality than every
// JSON form the writer could send instead. Several Accept field lines count
// as one comma-separated list (RFC 9110 §5.3). Ties go to JSON, the
// canonical form. The header is read without allocating.
func prefersXML(accept []string) bool {
	if !containsXML(accept) {
		return false
	}
	bestXML, bestJSON := -1, -1 // quality in thousandths, -1 = not listed
	xmlSpecific, jsonSpecific := 0, 0
	for _, line := range accept {
		for rest := line; rest != ""; {
			var elem string
			elem, rest, _ = strings.Cut(rest, ",")
			mediaRange, params, _ := strings.Cut(elem, ";")
			mediaRange = strings.TrimSpace(mediaRange)
			q := quality(params)
			// Specificity follows RFC 9110 §12.5.1: the most specific range
			// that matches a type decides its quality.
			switch {
			case strings.EqualFold(mediaRange, ContentTypeXML):
				bestXML, xmlSpecific = pick(bestXML, xmlSpecific, q, 3)
			case strings.EqualFold(mediaRange, "application/xml"), strings.EqualFold(mediaRange, "text/xml"):
				bestXML, xmlSpecific = pick(bestXML, xmlSpecific, q, 2)
			case strings.EqualFold(mediaRange, ContentTypeJSON):
				bestJSON, jsonSpecific = pick(bestJSON, jsonSpecific, q, 3)
			case strings.EqualFold(mediaRange, "application/json"):
				bestJSON, jsonSpecific = pick(bestJSON, jsonSpecific, q, 2)
			case strings.EqualFold(mediaRange, "application/*"), mediaRange == "*/*":
				spec := 1
				if mediaRange == "*/*" {
					spec = 0
				}
				bestXML, xmlSpecific = pick(bestXML, xmlSpecific, q, spec)
				bestJSON, jsonSpecific = pick(bestJSON, jsonSpecific, q, spec)
			}
		}
	}
	return bestXML > 0 && bestXML > bestJSON
}

// pick keeps the quality of the most specific range seen so far; among
// equally specific ranges, the highest quality.
func pick(best, bestSpec, q, spec int) (int, int) {
	if best < 0 || spec > bestSpec || (spec == bestSpec && q > best) {
		return q, spec
	}
	return best, bestSpec
}

// quality returns the q parameter of a media range's parameters in
// thousandths (1000 when absent; 0 when it does not follow the qvalue rule
// of RFC 9110 §12.4.2, which leaves such input to the server and which
// excludes the range).
func quality(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		return qvalue(strings.TrimSpace(value))
	}
	return 1000
}

// qvalue parses ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) in
// thousandths, or returns 0 for anything else.
func qvalue(s string) int {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q
	}
	if s[1] != '.' {
		return 0
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || (q == 1000 && c != '0') {
			return 0
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return q
}

// containsXML reports whether any of values contains "xml" in any case.
func containsXML(values []string) bool {
	for _, s := range values {
		for i := 0; i+3 <= len(s); i++ {
			if s[i]|0x20 == 'x' && s[i+1]|0x20 == 'm' && s[i+2]|0x20 == 'l' {
				return true
			}
		}
	}
	return false
}
