package sync

import (
	"context"
)

// Sync answers one /sync request and returns the response body. An
// incremental sync with nothing to report waits on the notifier (up to
// req.Timeout) and recomputes only when a change concerning the user or
// one of their joined rooms commits; a change that turns out to be
// invisible to the user (a filtered event type, someone else's private
// receipt) just moves the window on and waits again.
func (s *Service) Sync(ctx context.Context, req *Request) ([]byte, error) {
	if req.Filter == nil {
		req.Filter = &Filter{}
	}
	if s.src.Presence != nil {
		s.src.Presence.Touch(ctx, req.UserID, req.SetPresence)
	}
	timeout := min(req.Timeout, MaxTimeout)
	deadline := s.now().Add(timeout)
	since := req.Since
	if cur := s.notifier.Pos(); since > cur {
		// A token from the future (a restored database): resume from now.
		since = cur
	}
	for {
		upto := max(s.notifier.Pos(), since)
		res, err := s.compute(ctx, req, since, upto)
		if err != nil {
			return nil, err
		}
		if res.hasNews() || req.Since == 0 || req.FullState || timeout <= 0 || !s.now().Before(deadline) {
			return res.encode(), nil
		}
		waitCtx, cancel := context.WithDeadline(ctx, deadline)
		s.notifier.Wait(waitCtx, req.UserID.String(), roomStrings(res), upto)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Nothing in (since, upto] concerned the user, so the next window
		// can start at upto; this keeps each recomputation small.
		since = upto
	}
}

func roomStrings(res *result) []string {
	out := make([]string, len(res.joined))
	for i, r := range res.joined {
		out[i] = r.String()
	}
	return out
}
