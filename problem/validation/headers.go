package validation

import (
	"mime"
	"net/http"
	"strings"

	"github.com/backstop-go/backstop/problem"
)

// checkHeaders answers 415 for a Content-Type or Content-Encoding that the
// validator does not take.
func (v *Validator) checkHeaders(h http.Header) *problem.Problem {
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return ErrUnsupportedMediaType.New("The request body must not be compressed.").
			WithHeader("Accept-Encoding", "identity")
	}
	var mt string
	if ct := h.Get("Content-Type"); strings.EqualFold(ct, "application/json") {
		mt = "application/json" // the common case, without parsing
	} else if ct != "" {
		var params map[string]string
		var err error
		mt, params, err = mime.ParseMediaType(ct)
		if err != nil {
			return v.unsupported("The request's Content-Type cannot be parsed.")
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			return v.unsupported("JSON must be encoded in UTF-8.")
		}
	}
	if v.accepts(mt) {
		return nil
	}
	if mt == "" {
		return v.unsupported("The request has no Content-Type.")
	}
	return v.unsupported("The request's Content-Type is not supported.")
}

func (v *Validator) accepts(mt string) bool {
	if v.contentTypes == nil {
		return mt == "application/json" ||
			strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
	}
	for _, ct := range v.contentTypes {
		if ct == mt || ct == "*/*" && mt != "" {
			return true
		}
	}
	return false
}

func (v *Validator) unsupported(detail string) *problem.Problem {
	p := ErrUnsupportedMediaType.New(detail)
	accept := v.acceptHeader
	if v.contentTypes == nil {
		accept = "application/json"
	}
	if accept != "" {
		p.WithHeader("Accept", accept)
		p.Detail += " Send " + accept + "."
	}
	return p
}
