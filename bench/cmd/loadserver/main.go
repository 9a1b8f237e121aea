// Command loadserver serves the reference orders service of examples/app
// for a load test (bench/loadtest/run.sh): either its whole middleware
// chain (app.Routes) or the same handlers with no middleware, on
// in-memory or Redis stores, verifying HS256 tokens (or -alg's).
//
//	go run ./bench/cmd/loadserver -chain full -redis redis://127.0.0.1:6379/0 -tokens tokens.txt
//
// It writes -callers tokens to the -tokens file, one per line, each for a
// caller of its own (each caller has its own budget of idempotency
// records, 10,000 by default, which a long run of POST requests would
// exhaust as one caller), then prints "listening <addr>" and serves until
// SIGINT or SIGTERM. The rate limit is so high that no request is denied.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/backstop-go/backstop/bench/internal/chain"
	"github.com/backstop-go/backstop/otelx"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	mode := flag.String("chain", "full", "full: every middleware (app.Routes); bare: the handlers alone")
	redisURL := flag.String("redis", "", "redis://… for Redis stores; empty: in memory")
	alg := flag.String("alg", "HS256", "token algorithm: "+strings.Join(chain.Algorithms(), ", "))
	tokens := flag.String("tokens", "", "file to write the tokens to (required)")
	callers := flag.Int("callers", 64, "how many tokens (callers) to write")
	logWarnings := flag.Bool("log", false, "write the service's log lines of level WARN and above (failed requests, store failures) to stderr")
	flag.Parse()
	if *tokens == "" || *callers < 1 {
		return errors.New("-tokens is required, and -callers must be at least 1")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := chain.Options{Algorithm: *alg, RedisURL: *redisURL}
	if *logWarnings {
		opts.Logger = slog.New(otelx.NewLogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	c, err := chain.New(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	var h http.Handler
	switch *mode {
	case "full":
		h = c.Full
	case "bare":
		h = c.Bare
	default:
		return fmt.Errorf("-chain must be full or bare, not %q", *mode)
	}

	// The first caller is the Principal, whose orders were seeded. The
	// bare handlers read no token: every request is the Principal's.
	var b strings.Builder
	for i := range *callers {
		sub := c.Principal.Subject
		if i > 0 {
			sub += "-" + strconv.Itoa(i)
		}
		tok, err := c.TokenFor(sub)
		if err != nil {
			return err
		}
		b.WriteString(tok + "\n")
	}
	if err := os.WriteFile(*tokens, []byte(b.String()), 0o600); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// The timeouts of app.Serve.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Println("listening", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
