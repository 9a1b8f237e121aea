package pgstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
	"github.com/backstop-go/backstop/internal/childproc"
)

// The service under test: POST /orders inserts an order through the
// request's transaction and answers 201 with it. The X-Then header makes
// it fail after its insert (panic, 500, a commit that cannot succeed),
// hold until released, or block in a second write (on a lock the test
// holds).

const ordersSQL = `CREATE TABLE orders (
    id   bigserial PRIMARY KEY,
    note text NOT NULL
);
-- A row here with n < 0 makes the commit fail (a deferred check).
CREATE TABLE commit_guard (
    n int NOT NULL
);
CREATE FUNCTION commit_guard_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.n < 0 THEN RAISE EXCEPTION 'commit refused'; END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER commit_guard_check AFTER INSERT ON commit_guard
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_guard_check();`

// ordersURL returns the URL of a schema of its own with the store's
// table and the service's.
func ordersURL(t testing.TB) string {
	t.Helper()
	url := schemaURL(t)
	ctx := ctxFor(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, ordersSQL); err != nil {
		t.Fatal(err)
	}
	return url
}

func principal(*http.Request) (string, error) { return "tester", nil }

// service is one instance of the service.
type service struct {
	pool    *pgxpool.Pool
	store   *pgstore.Store
	handler http.Handler
	hold    chan struct{}
	once    sync.Once
}

func newService(pool *pgxpool.Pool, txOptions pgx.TxOptions, onInsert func()) *service {
	return newServiceOptions(pool, txOptions, idempotency.Options{}, onInsert)
}

// newServiceOptions is newService with the middleware's options.
func newServiceOptions(pool *pgxpool.Pool, txOptions pgx.TxOptions, o idempotency.Options, onInsert func()) *service {
	s := &service{pool: pool, store: pgstore.New(pool, pgstore.Options{}), hold: make(chan struct{})}
	m := pgstore.NewTxMiddleware(s.store, pool, txOptions, principal, o)
	mux := http.NewServeMux()
	mux.Handle("POST /orders", m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		createOrder(w, r, s.hold, onInsert)
	})))
	mux.HandleFunc("GET /release", func(w http.ResponseWriter, r *http.Request) { s.release() })
	s.handler = mux
	return s
}

func (s *service) release() { s.once.Do(func() { close(s.hold) }) }

func createOrder(w http.ResponseWriter, r *http.Request, hold <-chan struct{}, onInsert func()) {
	ctx := r.Context()
	tx, ok := pgstore.FromContext(ctx)
	if !ok {
		http.Error(w, "no transaction", http.StatusInternalServerError)
		return
	}
	note := r.Header.Get("X-Note")
	var id int64
	if err := tx.QueryRow(ctx, "INSERT INTO orders (note) VALUES ($1) RETURNING id", note).Scan(&id); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if onInsert != nil {
		onInsert()
	}
	switch r.Header.Get("X-Then") {
	case "panic":
		panic("handler fails after its insert")
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("failed after the insert"))
		return
	case "hold":
		select {
		case <-hold:
		case <-ctx.Done():
		}
	case "block", "block-ignore":
		// Waits for the test's lock on commit_guard; the client drops
		// meanwhile. "block-ignore" answers 201 whatever the write did.
		if _, err := tx.Exec(ctx, "INSERT INTO commit_guard VALUES (1)"); err != nil && r.Header.Get("X-Then") == "block" {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	case "unfit-commit":
		if _, err := tx.Exec(ctx, "INSERT INTO commit_guard VALUES (-1)"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", fmt.Sprint("/orders/", id))
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "note": note})
}

// The child process: the test binary serving the service on a free port,
// for the tests that kill an instance or run two.

const (
	childEnv    = "PGSTORE_TEST_CHILD_URL"
	childApp    = "PGSTORE_TEST_CHILD_APP"
	insertedMsg = "inserted"
)

// serveChild runs the service until the process is killed. It prints the
// address it listens on, then "inserted" after each insert.
func serveChild(url string) int {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.MaxConns = 10
	cfg.ConnConfig.RuntimeParams["application_name"] = os.Getenv(childApp)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	s := newService(pool, pgx.TxOptions{}, func() {
		mu.Lock()
		defer mu.Unlock()
		fmt.Println(insertedMsg)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	mu.Lock()
	fmt.Println(l.Addr().String())
	mu.Unlock()
	_ = http.Serve(l, s.handler)
	return 1
}

// child is a running child process.
type child struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string // what it prints after its address
	app   string
}

// startChild starts an instance of the service on url in a process of its
// own, killed when t ends.
func startChild(t *testing.T, url, app string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+url, childApp+"="+app)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := childproc.Start(cmd); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1024), app: app}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("child %s printed no address: %v", app, sc.Err())
	}
	c.addr = sc.Text()
	go func() {
		defer close(c.lines)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c
}

func (c *child) url() string { return "http://" + c.addr }

// waitBackendsGone waits until no connection of application app is left
// on the server: PostgreSQL has ended (and rolled back) what a killed
// process had open.
func waitBackendsGone(t *testing.T, pool *pgxpool.Pool, app string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctxFor(t), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of the killed process are still open", n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not waiting for time to pass
	}
}

// post sends POST /orders with key and the given X-Then.
func post(t testing.TB, client *http.Client, base, key, then string) (*http.Response, []byte, error) {
	return postContext(context.Background(), t, client, base, key, then)
}

// postContext is post with the request's context.
func postContext(ctx context.Context, t testing.TB, client *http.Client, base, key, then string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/orders", strings.NewReader(`{"item":"tea"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Note", "tea")
	if then != "" {
		req.Header.Set("X-Then", then)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp, []byte(b.String()), err
}

// count returns the number of rows of table.
func count(t testing.TB, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctxFor(t), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// storedBody returns the body recorded for the only record.
func storedBody(t testing.TB, pool *pgxpool.Pool) (state int, body []byte) {
	t.Helper()
	if err := pool.QueryRow(ctxFor(t), "SELECT state, body FROM backstop_idempotency").Scan(&state, &body); err != nil {
		t.Fatal(err)
	}
	return state, body
}

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
