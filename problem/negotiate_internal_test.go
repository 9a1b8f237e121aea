package problem

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// FuzzPrefersXML checks the allocation-free Accept parser against a plain
// reference that splits the fields whole: both must agree on every input,
// and neither may panic.
func FuzzPrefersXML(f *testing.F) {
	for _, seed := range []string{
		"application/problem+xml",
		"application/json;q=0.1, application/problem+xml",
		"application/problem+xml;q=0.9, application/json;q=0.899",
		"application/json;q=NaN, application/problem+xml;q=0.1",
		"application/*;q=0.5, application/xml;q=0.4, */*",
		"text/xml; charset=utf-8; q=1.000",
		"application/problem+xml;Q=0.9,application/json;q=0.5",
		"APPLICATION/PROBLEM+XML;q=1., application/json",
		" ;;,,q=1, xml",
	} {
		f.Add(seed, "")
	}
	f.Add("application/json;q=0.1", "application/problem+xml")
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		lines := []string{line1}
		if line2 != "" {
			lines = append(lines, line2)
		}
		if got, want := prefersXML(lines), referencePrefersXML(lines); got != want {
			t.Fatalf("prefersXML(%q) = %v, reference says %v", lines, got, want)
		}
	})
}

var qvalueRE = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

// referencePrefersXML restates RFC 9110 §12.5.1 for the two forms: the
// quality of a form is that of the most specific matching range (the
// highest among equally specific ones), a malformed q counts as 0, and XML
// wins only with a higher, non-zero quality.
func referencePrefersXML(lines []string) bool {
	type best struct{ q, spec int }
	xml, js := best{-1, -1}, best{-1, -1}
	consider := func(b *best, q, spec int) {
		if b.q < 0 || spec > b.spec || spec == b.spec && q > b.q {
			*b = best{q, spec}
		}
	}
	for _, elem := range strings.Split(strings.Join(lines, ","), ",") {
		parts := strings.Split(elem, ";")
		mediaRange := strings.ToLower(strings.TrimSpace(parts[0]))
		q := 1000
		for _, p := range parts[1:] {
			name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
				continue
			}
			value = strings.TrimSpace(value)
			if !qvalueRE.MatchString(value) {
				q = 0
			} else {
				f, _ := strconv.ParseFloat(strings.TrimSuffix(value, "."), 64)
				q = int(f*1000 + 0.5)
			}
			break
		}
		switch mediaRange {
		case "application/problem+xml":
			consider(&xml, q, 3)
		case "application/xml", "text/xml":
			consider(&xml, q, 2)
		case "application/problem+json":
			consider(&js, q, 3)
		case "application/json":
			consider(&js, q, 2)
		case "application/*":
			consider(&xml, q, 1)
			consider(&js, q, 1)
		case "*/*":
			consider(&xml, q, 0)
			consider(&js, q, 0)
		}
	}
	return xml.q > 0 && xml.q > js.q
}
