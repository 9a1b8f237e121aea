package authn

import (
	"net/http"
	"time"
)

// NewCookie returns a cookie that carries token to a browser, for use with
// Options.Cookie: HttpOnly (scripts cannot read it, so XSS cannot steal
// it), Secure (HTTPS only), SameSite=Lax (not sent on cross-site
// subrequests and POSTs), Path "/", expiring at expires (use the token's
// exp). Change fields before http.SetCookie if needed, e.g. SameSite
// Strict, or a "__Host-" name prefix, which browsers accept only with
// Secure, Path "/" and no Domain, as here.
//
// To log out, send the same cookie with an empty value and MaxAge -1.
func NewCookie(name, token string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		MaxAge:   max(0, int(time.Until(expires).Seconds())),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	}
}
