// TEMPORARY profiling server (deleted before hand-off).
package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"

	"github.com/ridehail/dispatch/internal/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "")
	flag.Parse()
	go http.ListenAndServe("127.0.0.1:6060", nil)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, server.Config{Addr: *addr, Logger: log})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	<-ctx.Done()
	srv.Shutdown(context.Background())
}
