package pgstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
	"github.com/backstop-go/backstop/internal/logtest"
	"github.com/backstop-go/backstop/problem"
)

const key = "7d1a5c0e-retry-me-twice"

// TestTxRecordsTheResponseTheClientGot checks a first request and its
// retry: one order, and a record whose body is byte for byte what the
// client received, replayed as such.
func TestTxRecordsTheResponseTheClientGot(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	srv := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
	defer srv.Close()

	resp, body, err := post(t, srv.Client(), srv.URL, key, "")
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("first request: %v %v %s", resp, err, body)
	}
	state, stored := storedBody(t, pool)
	if state != 2 || !bytes.Equal(stored, body) {
		t.Fatalf("record: state %d, body %q; the client got %q", state, stored, body)
	}
	again, body2, err := post(t, srv.Client(), srv.URL, key, "")
	if err != nil || again.StatusCode != http.StatusCreated || again.Header.Get(idempotency.HeaderReplayed) != "true" ||
		!bytes.Equal(body2, body) || again.Header.Get("Location") != resp.Header.Get("Location") {
		t.Fatalf("retry: %v %v %q, want the replay of %q", again, err, body2, body)
	}
	if n := count(t, pool, "orders"); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
}

// TestTxHandlerFailureRollsBackEverything checks that a handler that
// inserts an order and then panics, or answers 500, leaves no order and
// no record, and that the retry creates exactly one order.
func TestTxHandlerFailureRollsBackEverything(t *testing.T) {
	t.Parallel()
	for _, then := range []string{"panic", "500"} {
		t.Run(then, func(t *testing.T) {
			t.Parallel()
			pool := newPool(t, ordersURL(t), 4)
			srv := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
			srv.Config.ErrorLog = quietLog()
			defer srv.Close()

			resp, _, err := post(t, srv.Client(), srv.URL, key, then)
			switch then {
			case "panic":
				if err == nil {
					t.Fatalf("a panicking handler's request got an answer: %v", resp.Status)
				}
			case "500":
				if err != nil || resp.StatusCode != http.StatusInternalServerError {
					t.Fatalf("got %v %v, want the handler's 500", resp, err)
				}
			}
			if o, r := count(t, pool, "orders"), count(t, pool, "backstop_idempotency"); o != 0 || r != 0 {
				t.Fatalf("after the failure: %d orders, %d records; want none", o, r)
			}
			resp, body, err := post(t, srv.Client(), srv.URL, key, "")
			if err != nil || resp.StatusCode != http.StatusCreated || resp.Header.Get(idempotency.HeaderReplayed) != "" {
				t.Fatalf("retry: %v %v %s; want a first run", resp, err, body)
			}
			if n := count(t, pool, "orders"); n != 1 {
				t.Fatalf("%d orders after the retry, want 1", n)
			}
		})
	}
}

// TestTxKilledInstanceRollsBackEverything kills (SIGKILL) the process that
// runs the handler after its insert and before the commit: PostgreSQL
// rolls back the order and the claim, and the retry, on another instance,
// creates exactly one order at once (no lease to wait for).
func TestTxKilledInstanceRollsBackEverything(t *testing.T) {
	t.Parallel()
	url := ordersURL(t)
	pool := newPool(t, url, 4)
	c := startChild(t, url, "pgstore-killed")

	errc := make(chan error, 1)
	go func() {
		_, _, err := post(t, http.DefaultClient, c.url(), key, "hold")
		errc <- err
	}()
	if line := <-c.lines; line != insertedMsg {
		t.Fatalf("child printed %q, want %q", line, insertedMsg)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the killed instance answered")
	}
	waitBackendsGone(t, pool, c.app)
	if o, r := count(t, pool, "orders"), count(t, pool, "backstop_idempotency"); o != 0 || r != 0 {
		t.Fatalf("after the kill: %d orders, %d records; want none", o, r)
	}

	srv := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
	defer srv.Close()
	resp, body, err := post(t, srv.Client(), srv.URL, key, "")
	if err != nil || resp.StatusCode != http.StatusCreated || resp.Header.Get(idempotency.HeaderReplayed) != "" {
		t.Fatalf("retry: %v %v %s; want a first run", resp, err, body)
	}
	if n := count(t, pool, "orders"); n != 1 {
		t.Fatalf("%d orders after the retry, want 1", n)
	}
}

// TestTxConcurrentRequestsAcrossTwoInstances sends 200 concurrent
// requests with one key to two instances (two processes): exactly one
// order, one first response, and every other answer is its replay or a
// 409 in flight. The first request holds its transaction open until 100
// answers have come back, so the in-flight path is taken.
func TestTxConcurrentRequestsAcrossTwoInstances(t *testing.T) {
	t.Parallel()
	const n = 200
	url := ordersURL(t)
	pool := newPool(t, url, 4)
	instances := []*child{startChild(t, url, "pgstore-storm-a"), startChild(t, url, "pgstore-storm-b")}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()

	var (
		answered atomic.Int64
		once     sync.Once
		mu       sync.Mutex
		first    [][]byte
		replays  [][]byte
		inFlight int
		other    []string
		wg       sync.WaitGroup
	)
	releaseAll := func() {
		for _, c := range instances {
			if resp, err := client.Get(c.url() + "/release"); err == nil {
				resp.Body.Close()
			}
		}
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, err := post(t, client, instances[i%2].url(), key, "hold")
			mu.Lock()
			switch {
			case err != nil:
				other = append(other, err.Error())
			case resp.StatusCode == http.StatusCreated && resp.Header.Get(idempotency.HeaderReplayed) == "true":
				replays = append(replays, body)
			case resp.StatusCode == http.StatusCreated:
				first = append(first, body)
			case resp.StatusCode == http.StatusConflict && bytes.Contains(body, []byte("ErrInFlight")):
				inFlight++
			default:
				other = append(other, fmt.Sprintf("%d %s", resp.StatusCode, body))
			}
			mu.Unlock()
			if answered.Add(1) >= n/2 {
				once.Do(releaseAll)
			}
		}()
	}
	wg.Wait()
	once.Do(releaseAll)
	if len(first) != 1 || len(other) > 0 || inFlight == 0 {
		t.Fatalf("first runs %d, replays %d, in flight %d, other %q; want 1 first run and the rest replays or 409s", len(first), len(replays), inFlight, other)
	}
	for _, b := range replays {
		if !bytes.Equal(b, first[0]) {
			t.Fatalf("replay %q differs from the first response %q", b, first[0])
		}
	}
	if o := count(t, pool, "orders"); o != 1 {
		t.Fatalf("%d orders, want exactly 1", o)
	}
	resp, body, err := post(t, client, instances[1].url(), key, "")
	if err != nil || resp.Header.Get(idempotency.HeaderReplayed) != "true" || !bytes.Equal(body, first[0]) {
		t.Fatalf("final retry: %v %v %q, want the replay", resp, err, body)
	}
	t.Logf("%d first run, %d replays, %d in flight", len(first), len(replays), inFlight)
}

// TestTxSerializableContentionIsInFlight runs concurrent requests with one
// key at SERIALIZABLE, where a claim that started before another request's
// commit cannot see it: such claims answer 409 in flight, never run the
// handler a second time.
func TestTxSerializableContentionIsInFlight(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 8)
	srv := httptest.NewServer(newService(pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, nil).handler)
	defer srv.Close()
	var wg sync.WaitGroup
	var created, bad atomic.Int64
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, err := post(t, srv.Client(), srv.URL, key, "")
			switch {
			case err != nil:
				bad.Add(1)
			case resp.StatusCode == http.StatusCreated && resp.Header.Get(idempotency.HeaderReplayed) == "":
				created.Add(1)
			case resp.StatusCode == http.StatusCreated, resp.StatusCode == http.StatusConflict:
			default:
				t.Errorf("unexpected answer %d %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 1 || bad.Load() != 0 || count(t, pool, "orders") != 1 {
		t.Fatalf("first runs %d, errors %d, orders %d; want 1, 0, 1", created.Load(), bad.Load(), count(t, pool, "orders"))
	}
}

// TestTxSecondRequestIsInFlightWithoutWaiting checks that a request with
// the key of one whose transaction is open gets 409 at once, not after the
// first transaction ends.
func TestTxSecondRequestIsInFlightWithoutWaiting(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	inserted := make(chan struct{}, 1)
	s := newService(pool, pgx.TxOptions{}, func() { inserted <- struct{}{} })
	srv := httptest.NewServer(s.handler)
	defer srv.Close()
	done := holdFirst(t, srv, inserted)
	resp, body, err := post(t, srv.Client(), srv.URL, key, "")
	if err != nil || resp.StatusCode != http.StatusConflict || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second request while the first holds its transaction: %v %v %s; want 409 with Retry-After", resp, err, body)
	}
	if p, err := problem.Parse(resp); err == nil && p.Type != idempotency.ErrInFlight.URI {
		t.Fatalf("problem type %s", p.Type)
	}
	s.release()
	firstBody := <-done
	resp, body, err = post(t, srv.Client(), srv.URL, key, "")
	if err != nil || resp.Header.Get(idempotency.HeaderReplayed) != "true" || !bytes.Equal(body, firstBody) {
		t.Fatalf("after the first committed: %v %v %s; want its replay", resp, err, body)
	}
}

// TestTxFailedCommitSendsNothingOfTheHandler makes the commit fail (a
// deferred constraint): the client gets 503, not the handler's 201, and
// neither the order nor the record exists.
func TestTxFailedCommitSendsNothingOfTheHandler(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	srv := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
	defer srv.Close()
	resp, body, err := post(t, srv.Client(), srv.URL, key, "unfit-commit")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || bytes.Contains(body, []byte(`"id"`)) {
		t.Fatalf("got %v %v %s; want 503 and nothing of the handler's response", resp, err, body)
	}
	if o, r := count(t, pool, "orders"), count(t, pool, "backstop_idempotency"); o != 0 || r != 0 {
		t.Fatalf("%d orders, %d records; want none", o, r)
	}
}

// TestTxHandlerCannotEndTheTransaction checks that Commit and Rollback of
// the handler's transaction are refused and change nothing.
func TestTxHandlerCannotEndTheTransaction(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	store := pgstore.New(pool, pgstore.Options{})
	m := pgstore.NewTxMiddleware(store, pool, pgx.TxOptions{}, principal, idempotency.Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tx, _ := pgstore.FromContext(r.Context())
		if _, err := tx.Exec(r.Context(), "INSERT INTO orders (note) VALUES ('x')"); err != nil {
			t.Error(err)
		}
		if err := tx.Commit(r.Context()); !errors.Is(err, pgstore.ErrTxManaged) {
			t.Errorf("Commit = %v, want ErrTxManaged", err)
		}
		if err := tx.Rollback(r.Context()); !errors.Is(err, pgstore.ErrTxManaged) {
			t.Errorf("Rollback = %v, want ErrTxManaged", err)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	req := httptest.NewRequest(http.MethodPost, "/orders", nil)
	req.Header.Set("Idempotency-Key", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated || count(t, pool, "orders") != 1 {
		t.Fatalf("status %d, %d orders; want 201 and the order committed", rec.Code, count(t, pool, "orders"))
	}
}

// TestTxRecordReplaysInPlainMode checks that the transactional mode keys
// records as the idempotency middleware does: a record it committed is
// replayed by a plain idempotency middleware on the same table.
func TestTxRecordReplaysInPlainMode(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	srv := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
	defer srv.Close()
	_, body, err := post(t, srv.Client(), srv.URL, key, "")
	if err != nil {
		t.Fatal(err)
	}
	plain := idempotency.New(pgstore.New(pool, pgstore.Options{}), principal, idempotency.Options{})
	h := plain.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the plain middleware ran the handler: it did not find the record")
	}))
	req := httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader([]byte(`{"item":"tea"}`)))
	req.Header.Set("Idempotency-Key", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get(idempotency.HeaderReplayed) != "true" || !bytes.Equal(rec.Body.Bytes(), body) {
		t.Fatalf("plain middleware answered %d %q, want the replay of %q", rec.Code, rec.Body.Bytes(), body)
	}
}

// TestTxKeysOfAnotherTableAreNotInFlight checks that the claim's lock
// belongs to its table: a request held open on one schema's table does
// not make the same key and caller "in flight" on another schema's.
func TestTxKeysOfAnotherTableAreNotInFlight(t *testing.T) {
	t.Parallel()
	poolA, poolB := newPool(t, ordersURL(t), 4), newPool(t, ordersURL(t), 4)
	inserted := make(chan struct{}, 1)
	a := newService(poolA, pgx.TxOptions{}, func() { inserted <- struct{}{} })
	srvA, srvB := httptest.NewServer(a.handler), httptest.NewServer(newService(poolB, pgx.TxOptions{}, nil).handler)
	defer srvA.Close()
	defer srvB.Close()
	defer a.release()
	holdFirst(t, srvA, inserted)
	resp, body, err := post(t, srvB.Client(), srvB.URL, key, "")
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("same key on another table while the first is held: %v %v %s; want 201", resp, err, body)
	}
}

// holdFirst sends a request that holds its transaction open and returns
// once its order is inserted; the channel gets its body when it ends.
func holdFirst(t *testing.T, srv *httptest.Server, inserted <-chan struct{}) <-chan []byte {
	t.Helper()
	done := make(chan []byte, 1)
	go func() {
		resp, body, err := post(t, srv.Client(), srv.URL, key, "hold")
		if err != nil || resp.StatusCode != http.StatusCreated {
			body = []byte(fmt.Sprint("failed: ", resp, err, string(body)))
		}
		done <- body
	}()
	select {
	case <-inserted:
	case body := <-done:
		t.Fatalf("the first request ended before its insert: %s", body)
	}
	return done
}

// TestTxConcurrentReplaysAreAllReplays sends concurrent retries of a
// completed request: every one gets the replay. A replay takes no lock,
// so replays never make one another "in flight".
func TestTxConcurrentReplaysAreAllReplays(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 8)
	srv := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
	defer srv.Close()
	if resp, body, err := post(t, srv.Client(), srv.URL, key, ""); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("first request: %v %v %s", resp, err, body)
	}
	var wg sync.WaitGroup
	var notReplays atomic.Int64
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _, err := post(t, srv.Client(), srv.URL, key, "")
			if err != nil || resp.Header.Get(idempotency.HeaderReplayed) != "true" {
				notReplays.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := notReplays.Load(); n != 0 {
		t.Fatalf("%d of 60 concurrent retries of a completed request were not replays", n)
	}
}

// A TxMiddleware without a Logger logs to the slog default of the moment,
// not of NewTxMiddleware, with the record's level and attributes. (Not
// parallel: it sets the process's default logger.)
func TestTxNilLoggerIsTheDefaultAtLogTime(t *testing.T) {
	pool := newPool(t, ordersURL(t), 4)
	srv := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
	defer srv.Close()
	var logs logtest.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	resp, _, err := post(t, srv.Client(), srv.URL, key, "unfit-commit")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("got %v %v; want 503", resp, err)
	}
	if got := logs.String(); !strings.Contains(got, `level=ERROR msg="pgstore: cannot commit the request's transaction`) {
		t.Fatalf("the default set after NewTxMiddleware got %q, want the record itself", got)
	}
}
