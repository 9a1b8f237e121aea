package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/authn/password"
	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/problem/validation"
)

const typeBase = "https://pkg.go.dev/github.com/backstop-go/backstop/examples/app#"

// Problem types of the service's own failures. The packages' failures
// (validation, idempotency, rate limiting, authentication, pagination) come
// with their own types.
var (
	// ErrEmailExists (409) answers a registration whose email exists.
	ErrEmailExists = problem.Type{URI: typeBase + "ErrEmailExists", Title: "Email already registered", Status: http.StatusConflict}
	// ErrBadCredentials (401) answers a login with an unknown email or a
	// wrong password, the same way for both.
	ErrBadCredentials = problem.Type{URI: typeBase + "ErrBadCredentials", Title: "Wrong email or password", Status: http.StatusUnauthorized}
	// ErrOrderNotFound (404) answers a read of an order that does not exist
	// or is someone else's, the same way for both.
	ErrOrderNotFound = problem.Type{URI: typeBase + "ErrOrderNotFound", Title: "Order not found", Status: http.StatusNotFound}
)

// Scopes are the scopes of the tokens the service issues.
const (
	ScopeRead  = "orders:read"
	ScopeWrite = "orders:write"
)

// Handlers serves the domain routes. Each method is a problem.HandlerFunc:
// it returns the error to answer with, so echo handlers can return it as
// they are, and gin handlers hand it to c.Error. Routes that need a caller
// expect the authn middleware to have put a Principal in the context.
type Handlers struct {
	Users     Users
	Orders    Orders
	Passwords *password.Hasher
	Signer    *authn.Signer
	Audience  string
	TokenTTL  time.Duration
	Cookie    string // name of the session cookie
	Secure    bool   // the cookie's Secure attribute
	Pager     *pagination.Paginator
	Validator *validation.Validator
}

type newUser struct {
	Email    string `json:"email" validate:"required,email,max=254"`
	Password string `json:"password" validate:"required,min=12,max=1024"`
	Name     string `json:"name" validate:"required,max=100"`
}

type userJSON struct {
	ID    int64  `json:"id,string"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// CreateUser answers POST /v1/users: 201 with the user, 409 when the email
// exists, 422 on invalid input.
func (h *Handlers) CreateUser(w http.ResponseWriter, r *http.Request) error {
	var in newUser
	if err := h.Validator.Decode(r, &in); err != nil {
		return err
	}
	if err := storable(text{"email", in.Email}, text{"name", in.Name}); err != nil {
		return err
	}
	hash, err := h.Passwords.Hash(r.Context(), []byte(in.Password))
	if err != nil {
		return err // ErrBusy is a 503 problem; anything else a logged 500
	}
	u, err := h.Users.Create(r.Context(), User{Email: in.Email, Name: in.Name, PasswordHash: hash})
	if errors.Is(err, ErrEmailTaken) {
		return ErrEmailExists.New("An account with this email exists.")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, userJSON{ID: u.ID, Email: u.Email, Name: u.Name})
}

type credentials struct {
	Email    string `json:"email" validate:"required,max=254"`
	Password string `json:"password" validate:"required,max=1024"`
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// CreateToken answers POST /v1/tokens: 200 with a bearer token and a
// session cookie, or the same 401 for an unknown email and a wrong
// password (an unknown email spends the time of a real verification).
func (h *Handlers) CreateToken(w http.ResponseWriter, r *http.Request) error {
	var in credentials
	if err := h.Validator.Decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	u, err := h.Users.ByEmail(ctx, in.Email)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := h.Passwords.DummyVerify(ctx, []byte(in.Password)); err != nil {
			return err
		}
		return badCredentials()
	case err != nil:
		return err
	}
	ok, rehash, err := h.Passwords.Verify(ctx, []byte(in.Password), u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		return badCredentials()
	}
	if rehash {
		// The hashing policy changed since this hash was made: upgrade it
		// now that the password is at hand. A failure only delays that.
		if hash, err := h.Passwords.Hash(ctx, []byte(in.Password)); err == nil {
			_ = h.Users.SetPasswordHash(ctx, u.ID, hash)
		}
	}
	expires := time.Now().Add(h.TokenTTL)
	token, err := h.Signer.Sign(authn.Claims{
		Subject:   strconv.FormatInt(u.ID, 10),
		Audience:  []string{h.Audience},
		Scope:     ScopeRead + " " + ScopeWrite,
		ExpiresAt: expires,
	})
	if err != nil {
		return err
	}
	cookie := authn.NewCookie(h.Cookie, token, expires)
	cookie.Secure = h.Secure
	http.SetCookie(w, cookie)
	w.Header().Set("Cache-Control", "no-store") // RFC 6749 §5.1
	return writeJSON(w, http.StatusOK, tokenJSON{AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(h.TokenTTL / time.Second)})
}

func badCredentials() error {
	return ErrBadCredentials.New("The email or the password is wrong.").WithHeader("WWW-Authenticate", "Bearer")
}

type newOrder struct {
	Item     string `json:"item" validate:"required,max=100"`
	Quantity int    `json:"quantity" validate:"required,min=1,max=1000"`
}

type orderJSON struct {
	ID        int64  `json:"id,string"`
	Item      string `json:"item"`
	Quantity  int    `json:"quantity"`
	CreatedAt string `json:"created_at"`
}

// createdAtLayout is RFC 3339 in UTC with exactly microseconds.
const createdAtLayout = "2006-01-02T15:04:05.000000Z07:00"

func toJSON(o Order) orderJSON {
	return orderJSON{ID: o.ID, Item: o.Item, Quantity: o.Quantity, CreatedAt: o.CreatedAt.UTC().Format(createdAtLayout)}
}

// owner is the caller's identity, which Require guarantees.
func owner(r *http.Request) (Owner, error) {
	p, ok := authn.FromContext(r.Context())
	if !ok {
		return Owner{}, errors.New("app: no principal: the route is mounted without authn's Require")
	}
	return Owner{Issuer: p.Issuer, Subject: p.Subject}, nil
}

// CreateOrder answers POST /v1/orders: 201 with the order and its
// Location. Mount it behind the idempotency middleware.
func (h *Handlers) CreateOrder(w http.ResponseWriter, r *http.Request) error {
	who, err := owner(r)
	if err != nil {
		return err
	}
	var in newOrder
	if err := h.Validator.Decode(r, &in); err != nil {
		return err
	}
	if err := storable(text{"item", in.Item}); err != nil {
		return err
	}
	o, err := h.Orders.Create(r.Context(), Order{Owner: who, Item: in.Item, Quantity: in.Quantity, CreatedAt: Now()})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/orders/"+strconv.FormatInt(o.ID, 10))
	return writeJSON(w, http.StatusCreated, toJSON(o))
}

// ListOrders answers GET /v1/orders?limit=&cursor=: the caller's orders,
// newest first, with a next cursor and a Link header when more follow.
func (h *Handlers) ListOrders(w http.ResponseWriter, r *http.Request) error {
	who, err := owner(r)
	if err != nil {
		return err
	}
	// The cursor is bound to the caller: another caller's cursor is refused.
	req, err := h.Pager.Parse(r, who.Issuer, who.Subject)
	if err != nil {
		return err
	}
	q := ListQuery{Limit: req.FetchLimit(), Backward: req.Direction() == pagination.Backward}
	if cur, ok := req.Cursor(); ok {
		at, okAt := cur.Values[0].(time.Time)
		id, okID := cur.Values[1].(int64)
		if !okAt || !okID {
			return errors.New("app: cursor values of unexpected types") // signed by us: a bug
		}
		q.HasCursor, q.CreatedAt, q.ID = true, at, id
	}
	rows, err := h.Orders.List(r.Context(), who, q)
	if err != nil {
		return err
	}
	page, err := pagination.NewPage(req, rows, func(o Order) []any { return []any{o.CreatedAt, o.ID} })
	if err != nil {
		return err
	}
	// The list goes forward only: no previous-page cursor, so that a next
	// link appears exactly when has_more is true.
	page.PrevCursor = ""
	page.SetLinkHeader(w, r)
	out := pagination.Page[orderJSON]{Data: make([]orderJSON, len(page.Data)), NextCursor: page.NextCursor, HasMore: page.HasMore}
	for i, o := range page.Data {
		out.Data[i] = toJSON(o)
	}
	return writeJSON(w, http.StatusOK, out)
}

// GetOrder answers GET /v1/orders/{id}: the order, or 404 when it does not
// exist or is someone else's. The id comes from r.PathValue("id").
func (h *Handlers) GetOrder(w http.ResponseWriter, r *http.Request) error {
	who, err := owner(r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return ErrOrderNotFound.New("There is no such order.")
	}
	o, err := h.Orders.Get(r.Context(), who, id)
	if errors.Is(err, ErrNotFound) {
		return ErrOrderNotFound.New("There is no such order.")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toJSON(o))
}

// text is a decoded string member and its JSON name.
type text struct{ name, value string }

// storable answers with a 422 for each member holding U+0000, which
// PostgreSQL's text cannot store: without this check the in-memory stores
// would accept it and PostgreSQL answer a 500.
func storable(ts ...text) error {
	var vs []validation.Violation
	for _, t := range ts {
		if strings.IndexByte(t.value, 0) >= 0 {
			vs = append(vs, validation.Violation{Pointer: validation.Pointer(t.name), Detail: "must not contain the NUL character", Rule: "nonul"})
		}
	}
	if vs == nil {
		return nil
	}
	return validation.Invalid(vs...)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
