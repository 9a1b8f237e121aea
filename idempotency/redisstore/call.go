package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
)

var errZeroStore = fmt.Errorf("redisstore: %w: Store not made by redisstore.New", idempotency.ErrStoreUnavailable)

// script is an embedded Lua script, called by its SHA-1 (EVALSHA) and by
// its source when the server does not know it (EVAL).
type script struct {
	src, sha any // boxed once
}

func newScript(src string) *script {
	return &script{src: src, sha: redis.NewScript(src).Hash()}
}

// onceCmd is a command that go-redis sends once, whatever its MaxRetries:
// the store decides itself which failures deserve a retry.
type onceCmd struct{ *redis.Cmd }

func (onceCmd) NoRetry() bool { return true }

// run calls sc with keys and args within Options.Timeout. It sends the
// call a second time, at once, when the first failed because its
// connection was lost (or it found none free in the pool), and reports
// whether it did so (every script recognises a call it already ran). Errors wrap
// idempotency.ErrStoreUnavailable, except that a ctx that is done before
// the call ends returns its own error.
//
// The script touches k's record, and its scope's keys when scoped.
func (s *Store) run(ctx context.Context, sc *script, k recordKeys, scoped bool, args ...any) (reply any, resent bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if s.client == nil {
		return nil, false, errZeroStore
	}
	parent := ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	reply, err = s.eval(ctx, sc, k, scoped, args)
	// A pool that had no connection free for the client's PoolTimeout
	// sent nothing: worth the one retry too, when Timeout is longer.
	if err != nil && (connectionLost(err) || errors.Is(err, redis.ErrPoolTimeout)) && ctx.Err() == nil {
		resent = true
		reply, err = s.eval(ctx, sc, k, scoped, args)
	}
	if err != nil {
		if perr := parent.Err(); perr != nil {
			return nil, resent, perr
		}
		return nil, resent, fmt.Errorf("redisstore: %w: %w", idempotency.ErrStoreUnavailable, err)
	}
	return reply, resent, nil
}

// eval sends EVALSHA, and EVAL when the server's script cache lacks sc
// (after a restart or a failover).
func (s *Store) eval(ctx context.Context, sc *script, k recordKeys, scoped bool, args []any) (any, error) {
	v, err := s.process(ctx, "evalsha", sc.sha, k, scoped, args)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		v, err = s.process(ctx, "eval", sc.src, k, scoped, args)
	}
	return v, err
}

func (s *Store) process(ctx context.Context, name string, script any, k recordKeys, scoped bool, args []any) (any, error) {
	cmdArgs := make([]any, 0, 6+len(args))
	if scoped {
		cmdArgs = append(cmdArgs, name, script, 3, k.record, k.expiries, k.usage)
	} else {
		cmdArgs = append(cmdArgs, name, script, 1, k.record)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := onceCmd{redis.NewCmd(ctx, cmdArgs...)}
	err := s.client.Process(ctx, cmd)
	return cmd.Val(), err
}

// bounded runs fn within Options.Timeout and wraps its error.
func (s *Store) bounded(ctx context.Context, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.client == nil {
		return errZeroStore
	}
	parent := ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	err := fn(ctx)
	if err == nil {
		return nil
	}
	if perr := parent.Err(); perr != nil {
		return perr
	}
	if errors.Is(err, ErrEvictionPolicy) {
		return err
	}
	return fmt.Errorf("redisstore: %w: %w", idempotency.ErrStoreUnavailable, err)
}

// mayHaveRun reports whether a command that failed with err may have
// reached the server: it timed out (the context's deadline, or the
// socket's), or lost its connection, after being sent, or its caller gave
// up on it. A connection that could not be made
// sent nothing.
func mayHaveRun(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &ne) && ne.Timeout() || connectionLost(err)
}

// connectionLost reports whether err says that a connection the command
// used broke (it may or may not have reached the server), as opposed to a
// connection that could not be made, a timeout, or an answer from Redis.
func connectionLost(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op != "dial" && !op.Timeout()
}
