package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// DB returns a check that pings db (db.PingContext): it takes a connection
// from the pool, or opens one, and asks the driver to verify it. Register
// it with a Timeout: the deadline also bounds waiting for a free
// connection from a busy pool. It panics when db is nil.
func DB(db *sql.DB) CheckFunc {
	if db == nil {
		panic("health: DB: nil *sql.DB")
	}
	return db.PingContext
}

// maxDrain bounds how much of an answer's body HTTPGet reads, so that the
// connection can be reused without reading a large body.
const maxDrain = 4 << 10

// HTTPGet returns a check that sends GET rawURL with client (nil:
// http.DefaultClient, which follows redirects) and passes when the answer
// is 2xx. The request is bounded by the check's timeout. It returns an
// error when rawURL is not an absolute http or https URL. Errors name the
// URL without its password.
func HTTPGet(rawURL string, client *http.Client) (CheckFunc, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error quotes the whole URL, password included
		}
		return nil, fmt.Errorf("health: HTTPGet: invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("health: HTTPGet: want an absolute http or https URL, got " + u.Redacted())
	}
	if client == nil {
		client = http.DefaultClient
	}
	target := u.String()
	shown := u.Redacted()
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // *url.Error repeats the URL, password included
			}
			return fmt.Errorf("GET %s: %w", shown, err)
		}
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("GET %s: status %d", shown, resp.StatusCode)
		}
		return nil
	}, nil
}
