package health

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/backstop-go/backstop/internal/headerval"
	"github.com/backstop-go/backstop/problem"
)

// Media types of the two output formats.
const (
	ContentTypeJSON = "application/health+json"
	ContentTypeText = "text/plain; charset=utf-8"
)

// Handler returns the HTTP handler of probe p, one of Live, Ready and
// Startup. It panics when p is not exactly one of them. Mount it at the
// probe's path and, for single checks, at the path with a {name}
// wildcard:
//
//	mux.Handle("GET /readyz", reg.Handler(health.Ready))
//	mux.Handle("GET /readyz/{name}", reg.Handler(health.Ready))
//
// # Status
//
// 200 when every critical check passes (optional ones may fail: the status
// is then "warn"), 503 when one fails. Checks are run as in Registry.Check:
// fresh results are reused, the others run in parallel, each bounded by
// its timeout, so the answer takes about as long as the slowest check that
// had to run, never longer than the longest timeout.
//
// # One check
//
// A request whose route sets the path value "name" (a ServeMux pattern
// such as /readyz/{name}, chi, or an adapter calling
// http.Request.SetPathValue) is about that check alone; an unknown name is
// a 404 ErrUnknownCheck problem. On routers that set no path values, a
// path whose last segment is the name of one of the probe's checks
// (/readyz/db) is about that check; other paths are about the probe. Asked
// for alone, an optional check that fails answers 503.
//
// # Query
//
//   - ?verbose lists every check in the text format, as Kubernetes'
//     /readyz?verbose does.
//   - ?exclude=name (repeatable) leaves a check out of this answer; a name
//     that matches no check is reported in a warning line (text) or a note
//     (JSON).
//
// # Body
//
// application/health+json (draft-inadarei-api-health-check-06) by
// default: "status" pass, warn or fail, and under "checks" one entry per
// check keyed by its name, with its status, the "time" of its result and
// its duration as "observedValue" in "observedUnit" ms. Ready lists the
// "shutdown" check last, failing while the registry drains.
//
// text/plain in the Kubernetes format with ?verbose, or when the request
// accepts text/plain and no JSON: "ok" when the probe passes, else (and
// always with ?verbose) one line per check ("[+]db ok", "[+]search warn:
// reason withheld", "[-]cache failed: reason withheld", "[+]db excluded:
// ok") and "readyz check passed" or "readyz check failed".
//
// Failure reasons are "reason withheld" (text) or absent (JSON) unless
// Options.ShowErrors allows the request to see them.
//
// # Headers
//
// Every answer has Cache-Control: no-store, X-Content-Type-Options: nosniff
// and Vary: Accept. HEAD is answered without a body; other methods than
// GET and HEAD get a 405 problem with Allow: GET, HEAD. Problems are
// written by Options.ErrorHandler.
func (r *Registry) Handler(p Probe) http.Handler {
	r.mustBeNew("Handler")
	if !p.single() {
		panic("health: Handler: want exactly one of Live, Ready, Startup; got " + p.String())
	}
	return &handler{reg: r, probe: p}
}

type handler struct {
	reg   *Registry
	probe Probe
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		h.reg.opts.ErrorHandler(w, req, problem.New(http.StatusMethodNotAllowed,
			"A health probe answers GET and HEAD only.").WithHeader("Allow", "GET, HEAD"))
		return
	}
	ev := getEval()
	defer putEval(ev)

	single := false
	if name := req.PathValue("name"); name != "" {
		if !ev.loadOne(h.reg, h.probe, name) {
			h.reg.opts.ErrorHandler(w, req, ErrUnknownCheck.New("The "+h.probe.String()+" probe has no check of that name."))
			return
		}
		single = true
	} else if ev.loadOne(h.reg, h.probe, lastSegment(req.URL.Path)) {
		single = true
	}

	verbose := false
	var unknown []string
	if req.URL.RawQuery != "" {
		verbose, ev.exclude = parseQuery(req.URL.RawQuery, ev.exclude[:0])
	}
	if !single {
		ev.load(h.reg, h.probe)
		unknown = ev.markExcluded()
	}
	status := ev.run(req.Context(), h.reg, h.probe, single)

	show := h.reg.opts.ShowErrors != nil && h.reg.opts.ShowErrors(req)
	hdr := w.Header()
	vals := headerval.Get() // values of this response's own
	if verbose || wantsText(req.Header["Accept"]) {
		hdr["Content-Type"] = vals.Value(ContentTypeText)
		ev.buf = ev.appendText(ev.buf[:0], h.probe, status, verbose, show, unknown)
	} else {
		hdr["Content-Type"] = vals.Value(ContentTypeJSON)
		ev.buf = ev.appendJSON(ev.buf[:0], status, show, unknown)
	}
	hdr["Cache-Control"] = vals.Value("no-store")
	hdr["X-Content-Type-Options"] = vals.Value("nosniff")
	hdr["Vary"] = vals.Value("Accept")
	headerval.Put(vals)
	code := http.StatusOK
	if status == StatusFail {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if req.Method != http.MethodHead {
		_, _ = w.Write(ev.buf)
	}
}

// loadOne sets ev to the one check of p named name and reports whether p
// has it.
func (ev *eval) loadOne(r *Registry, p Probe, name string) bool {
	if p == Ready && name == shutdownName {
		ev.entries = append(ev.entries, entry{})
		return true
	}
	for _, c := range r.checks(p) {
		if c.name == name {
			ev.entries = append(ev.entries, entry{c: c})
			return true
		}
	}
	return false
}

// markExcluded marks the entries named by ev.exclude and returns the
// names that match none, sorted and each once as Kubernetes lists them,
// reusing ev.exclude's array.
func (ev *eval) markExcluded() []string {
	unknown := ev.exclude[:0]
	for _, name := range ev.exclude {
		found := false
		for i := range ev.entries {
			if ev.entries[i].name() == name {
				ev.entries[i].excluded = true
				found = true
			}
		}
		if !found {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 1 {
		slices.Sort(unknown)
		unknown = slices.Compact(unknown)
	}
	return unknown
}

// lastSegment returns the part of path after its last slash.
func lastSegment(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// parseQuery reads the parameters "verbose" (present: true, whatever its
// value) and "exclude" (each value, decoded, appended to exclude) from a
// raw query string, as url.ParseQuery would decode them: pairs separated
// by '&', pairs holding ';' or a bad escape skipped, '+' as space.
func parseQuery(raw string, exclude []string) (verbose bool, _ []string) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, ok := unescape(key)
		if !ok {
			continue
		}
		switch key {
		case "verbose":
			if _, ok := unescape(value); ok {
				verbose = true
			}
		case "exclude":
			if v, ok := unescape(value); ok {
				exclude = append(exclude, v)
			}
		}
	}
	return verbose, exclude
}

// unescape decodes a query component, allocating only when it holds an
// escape or a '+'.
func unescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	v, err := url.QueryUnescape(s)
	return v, err == nil
}

// wantsText reports whether an Accept field lists text/plain and no JSON
// type, so that the client gets the text format by default.
func wantsText(accept []string) bool {
	text := false
	for _, v := range accept {
		if containsFold(v, "json") {
			return false
		}
		if containsFold(v, "text/plain") {
			text = true
		}
	}
	return text
}

// containsFold reports whether s contains the lower-case ASCII substr in
// any case.
func containsFold(s, substr string) bool {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return true
		}
	}
	return false
}

// withheld replaces failure reasons that the request may not see.
const withheld = "reason withheld"

// appendText appends the Kubernetes text format.
func (ev *eval) appendText(b []byte, p Probe, status Status, verbose, show bool, unknown []string) []byte {
	if !verbose && status != StatusFail {
		return append(b, "ok"...)
	}
	for i := range ev.entries {
		e := &ev.entries[i]
		switch {
		case e.excluded:
			b = append(b, "[+]"...)
			b = append(b, e.name()...)
			b = append(b, " excluded: ok\n"...)
			continue
		case e.status == StatusPass:
			b = append(b, "[+]"...)
			b = append(b, e.name()...)
			b = append(b, " ok\n"...)
			continue
		case e.status == StatusWarn:
			b = append(b, "[+]"...)
			b = append(b, e.name()...)
			b = append(b, " warn: "...)
		default:
			b = append(b, "[-]"...)
			b = append(b, e.name()...)
			b = append(b, " failed: "...)
		}
		if show {
			b = appendLine(b, errorText(e.res.err))
		} else {
			b = append(b, withheld...)
		}
		b = append(b, '\n')
	}
	if len(unknown) > 0 {
		b = append(b, "warn: some health checks cannot be excluded: no matches for "...)
		b = appendQuotedNames(b, unknown)
		b = append(b, '\n')
	}
	b = append(b, p.String()...)
	if status == StatusFail {
		return append(b, " check failed\n"...)
	}
	return append(b, " check passed\n"...)
}

// maxQuotedNames bounds how many unknown exclude names are echoed back.
const maxQuotedNames = 10

// appendQuotedNames appends names as Go-quoted strings separated by
// commas, so that client input stays on one line and printable.
func appendQuotedNames(b []byte, names []string) []byte {
	for i, n := range names {
		if i == maxQuotedNames {
			return append(b, ",..."...)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, n)
	}
	return b
}

// appendLine appends s with control characters replaced by spaces, so an
// error text cannot start a line of its own, and invalid UTF-8 by U+FFFD.
func appendLine(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				c = ' '
			}
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// appendJSON appends the application/health+json body.
func (ev *eval) appendJSON(b []byte, status Status, show bool, unknown []string) []byte {
	b = append(b, `{"status":"`...)
	b = append(b, status.String()...)
	b = append(b, `","checks":{`...)
	first := true
	for i := range ev.entries {
		e := &ev.entries[i]
		if e.excluded {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, e.name()...) // names need no escaping
		b = append(b, `":[{"status":"`...)
		b = append(b, e.status.String()...)
		b = append(b, '"')
		b = append(b, e.res.json()...)
		if show && e.res.err != nil {
			b = append(b, `,"output":`...)
			b = appendJSONString(b, errorText(e.res.err))
		}
		b = append(b, "}]"...)
	}
	b = append(b, '}')
	if len(unknown) > 0 {
		b = append(b, `,"notes":[`...)
		b = appendJSONString(b, string(appendQuotedNames([]byte("some health checks cannot be excluded: no matches for "), unknown)))
		b = append(b, ']')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping quotes,
// backslashes and control characters and replacing invalid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
