package problem

import (
	"strconv"
	"strings"
)

// prefersXML reports whether an Accept header value gives
// application/problem+xml (or application/xml) a higher quality than every
// JSON form the writer could send instead. Ties go to JSON, the canonical
// form. The header is read without allocating.
func prefersXML(accept string) bool {
	if !containsXML(accept) {
		return false
	}
	bestXML, bestJSON := -1, -1 // quality in thousandths, -1 = not listed
	xmlSpecific, jsonSpecific := 0, 0
	for rest := accept; rest != ""; {
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
// thousandths (1000 when absent; 0 when malformed, which RFC 9110 leaves to
// the server and which excludes the range).
func quality(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		value = strings.TrimSpace(value)
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || f < 0 || f > 1 || len(value) > 5 {
			return 0
		}
		return int(f*1000 + 0.5)
	}
	return 1000
}

// containsXML reports whether s contains "xml" in any case.
func containsXML(s string) bool {
	for i := 0; i+3 <= len(s); i++ {
		if s[i]|0x20 == 'x' && s[i+1]|0x20 == 'm' && s[i+2]|0x20 == 'l' {
			return true
		}
	}
	return false
}
