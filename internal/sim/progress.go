package sim

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/schollz/progressbar/v3"
)

func cos(x float64) float64 { return math.Cos(x) }
func sin(x float64) float64 { return math.Sin(x) }

// progress reports the run's state every second until ctx ends: a progress
// bar over simulated time on a terminal, else a line every 10 s.
func progress(ctx context.Context, cfg *Config, col *collector, clock *Clock, start, end time.Time, trips int) {
	if cfg.Progress == nil {
		<-ctx.Done()
		return
	}
	total := int64(end.Sub(start) / time.Second)
	var bar *progressbar.ProgressBar
	if cfg.ProgressBar {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	line := func() string {
		return fmt.Sprintf("sim %s | online %d/%d | fixes %d | requests %d/%d | matched %d | no_driver %d",
			clock.Now().UTC().Format("01-02 15:04"), col.online.Load(), col.vehicles.Load(), col.fixesSent.Load(),
			col.requests.Load(), trips, col.matched.Load(), col.noDriver.Load())
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastLine := time.Now()
	for {
		select {
		case <-ctx.Done():
			if bar != nil {
				_ = bar.Finish()
			} else {
				fmt.Fprintln(cfg.Progress, line())
			}
			return
		case <-tick.C:
			el := int64(clock.Now().Sub(start) / time.Second)
			if bar != nil {
				bar.Describe(line())
				_ = bar.Set64(min(max(el, 0), total))
			} else if time.Since(lastLine) >= 10*time.Second {
				lastLine = time.Now()
				fmt.Fprintln(cfg.Progress, line())
			}
		}
	}
}
