package dispatch

import "context"

// MarkDisconnected runs the first half of DriverDisconnected only, to
// replay an accept landing between its two halves.
func (e *Engine) MarkDisconnected(ctx context.Context, driverID string) (*Driver, error) {
	return e.markDisconnected(ctx, driverID, 0)
}

// AfterDisconnect runs the second half of DriverDisconnected.
func (e *Engine) AfterDisconnect(ctx context.Context, d *Driver) error {
	return e.afterDisconnect(ctx, d)
}
