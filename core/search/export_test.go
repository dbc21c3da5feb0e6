package search

import (
	"context"
	"fmt"
)

// WaitIndexed waits until the index cursor is at pos or later, so tests
// of the background indexer need not sleep.
func (s *Service) WaitIndexed(ctx context.Context, pos int64) error {
	for {
		s.idx.mu.Lock()
		done, ch := s.idx.loaded && s.idx.done >= pos, s.idx.changed
		s.idx.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("search index cursor still below %d: %w", pos, ctx.Err())
		}
	}
}

// SetBatchSize sets how many events one indexing transaction reads; call
// before the first search or Start.
func (s *Service) SetBatchSize(n int) { s.idx.batch = n }
