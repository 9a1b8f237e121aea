package pagination

import (
	"net/http"
	"net/url"
	"strings"
)

// LinkHeader returns the value of an RFC 8288 Link header field with the
// rel="next" and rel="prev" links of the page after and before r's page,
// for the cursors next and prev (either may be empty), or "" when both are
// empty.
//
// The links are relative references (path and query), which clients resolve
// against the URL they requested: no Host or X-Forwarded-* header is
// trusted to build them. The path is the one the client sent (r.RequestURI),
// so it survives http.StripPrefix. The query keeps every parameter of r
// except the cursor parameters, limit included, and adds the cursor: in
// CursorParam, or in AfterParam and BeforeParam when Options.AfterBefore is
// set. Parameters are sorted by name.
func (p *Paginator) LinkHeader(r *http.Request, next, prev string) string {
	if next == "" && prev == "" {
		return ""
	}
	path := requestPath(r)
	q := r.URL.Query()
	delete(q, p.opts.CursorParam)
	delete(q, p.opts.AfterParam)
	delete(q, p.opts.BeforeParam)
	var b strings.Builder
	link := func(param, cursor, rel string) {
		if cursor == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		q.Set(param, cursor)
		b.WriteByte('<')
		b.WriteString(path)
		b.WriteByte('?')
		b.WriteString(q.Encode())
		b.WriteString(`>; rel="`)
		b.WriteString(rel)
		b.WriteByte('"')
		delete(q, param)
	}
	nextParam, prevParam := p.opts.CursorParam, p.opts.CursorParam
	if p.opts.AfterBefore {
		nextParam, prevParam = p.opts.AfterParam, p.opts.BeforeParam
	}
	link(nextParam, next, "next")
	link(prevParam, prev, "prev")
	return b.String()
}

// requestPath returns the escaped path the client asked for, in a form that
// cannot be read as a network-path reference ("//host/…").
func requestPath(r *http.Request) string {
	p := ""
	if r.RequestURI != "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
			p = u.EscapedPath()
		}
	}
	if p == "" {
		p = r.URL.EscapedPath()
	}
	switch {
	case p == "" || p[0] != '/':
		return "/" + p
	case strings.HasPrefix(p, "//"):
		// "/." resolves away (RFC 3986 §5.2.4) and keeps "//x" a path.
		return "/." + p
	}
	return p
}

// SetLinkHeader sets the Link header of w to the page's next and prev links
// (see [Paginator.LinkHeader]), or leaves it alone when the page has neither.
// It also adds Link to Access-Control-Expose-Headers, without which browser
// scripts on other origins cannot read it. Call it before writing the body.
func (pg Page[T]) SetLinkHeader(w http.ResponseWriter, r *http.Request) {
	if pg.p == nil {
		return
	}
	v := pg.p.LinkHeader(r, pg.NextCursor, pg.PrevCursor)
	if v == "" {
		return
	}
	h := w.Header()
	h.Set("Link", v)
	h.Add("Access-Control-Expose-Headers", "Link")
}
