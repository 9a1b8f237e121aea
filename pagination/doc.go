// Package pagination implements keyset (cursor) pagination for HTTP list
// endpoints: signed opaque cursors, strict limit parsing, the limit+1 and
// backward-page bookkeeping, a JSON envelope, RFC 8288 Link headers and the
// keyset SQL predicate.
//
// # Why keyset pagination
//
// OFFSET pagination rescans every skipped row and shifts when rows are
// inserted; keyset pagination remembers the sort-key values of the last row
// seen and asks for the rows beyond them, which an index answers directly.
// Its classic bugs are all handled here: the sort must end in a unique
// tie-breaker ([Key].Unique), or rows sharing a sort value are skipped or
// repeated; cursors are signed, so clients cannot forge positions; a cursor
// replayed under another sort or filter is rejected instead of returning
// wrong rows; integers above 2^53 and nanosecond timestamps survive the round
// trip exactly; and backward pages come back in canonical order.
//
// # The pieces
//
//   - [Codec] turns a [Cursor] (direction and sort-key values) into an
//     opaque base64url string and back: HMAC-SHA256 signed by default,
//     AES-256-GCM sealed on request, with key rotation, issue time and an
//     optional TTL. See [Codec] for the wire format.
//   - [Sort] is the order: keys ending in a unique column. It renders the
//     keyset SQL ([Sort.Keyset]) for PostgreSQL, MySQL, SQLite and SQL
//     Server, and its fingerprint binds cursors to it.
//   - [Paginator] parses the limit and cursor of a request into a [Request];
//     [NewPage] turns the query's rows into a [Page], which marshals to the
//     JSON envelope and sets the Link header.
//
// # A list handler
//
//	codec, err := pagination.NewCodec([]pagination.Secret{{ID: 1, Key: key}}, pagination.CodecOptions{TTL: 24 * time.Hour})
//	byNewest := pagination.NewSort(
//		pagination.Key{Column: "created_at", Desc: true},
//		pagination.Key{Column: "id", Desc: true, Unique: true},
//	)
//	pager, err := pagination.New(codec, byNewest, pagination.Options{})
//
//	func list(w http.ResponseWriter, r *http.Request) error {
//		status := r.URL.Query().Get("status")
//		req, err := pager.Parse(r, status) // the cursor is bound to the filter
//		if err != nil {
//			return err // a 400 problem
//		}
//		ks := req.Keyset(pagination.Postgres, 1) // $1 is the status
//		rows, err := db.Query(ctx, "SELECT id, created_at, title FROM items WHERE status = $1"+
//			ks.And()+" ORDER BY "+ks.OrderBy+" LIMIT "+strconv.Itoa(req.FetchLimit()),
//			append([]any{status}, ks.Args...)...)
//		// … scan into items …
//		page, err := pagination.NewPage(req, items, func(it Item) []any { return []any{it.CreatedAt, it.ID} })
//		if err != nil {
//			return err
//		}
//		page.SetLinkHeader(w, r)
//		return json.NewEncoder(w).Encode(page)
//	}
//
// # Errors
//
// Every client mistake is a *problem.Problem with status 400 and a stable
// type ([ErrCursorMalformed], [ErrCursorTampered], [ErrCursorUnknownKey],
// [ErrCursorExpired], [ErrCursorSortMismatch], [ErrCursorFilterMismatch],
// [ErrCursorConflict], [ErrLimitInvalid], [ErrLimitExceeded]); pass it to
// problem.Write. [NewCodec] and [New] return errors for what may come from
// configuration (secrets, TTL, limits) and panic on what only a programming
// mistake produces (a nil codec or sort, a parameter name used twice), as
// [NewSort] does on a sort that cannot be right; errors of [Codec.Encode]
// and [NewPage] are plain errors, programming mistakes too.
//
// # What cursors are not
//
// Signed cursors are opaque by contract but readable by anyone who decodes
// them (the sort-key values of one row, the direction and the issue time);
// set CodecOptions.Encrypt when those values are sensitive. A cursor grants
// nothing: the query must still apply the caller's authorization. Cursors do
// not carry the page size, so a client may change the limit between pages.
//
// Keyset pagination walks a list that may change under it: a row inserted
// behind the cursor is not seen, and a row whose sort key changes may be
// seen twice or never. Sort by immutable columns (created_at, id) where
// that matters. Build cursors from values as the database returns them:
// PostgreSQL keeps microseconds and MySQL DATETIME whole seconds by
// default, so a nanosecond time.Time from the application would never equal
// the stored value.
package pagination
