package app

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/backstop-go/backstop/otelx"
)

// Main is what every variant's main calls: it reads the configuration,
// builds the App, lets routes mount its parts on a router, and serves until
// SIGTERM. It returns the process's exit code.
func Main(routes func(a *App) http.Handler) int {
	logger := slog.New(otelx.NewLogHandler(slog.NewJSONHandler(os.Stdout, nil)))
	slog.SetDefault(logger)
	cfg, err := ConfigFromEnv(os.Getenv)
	if err != nil {
		logger.Error("configuration", "error", err)
		return 2
	}
	ctx := context.Background()
	a, err := New(ctx, cfg, logger)
	if err != nil {
		logger.Error("start", "error", err)
		return 1
	}
	if err := a.Serve(ctx, routes(a)); err != nil {
		logger.Error("serve", "error", err)
		return 1
	}
	return 0
}
