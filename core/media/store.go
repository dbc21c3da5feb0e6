package media

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// readErrReader remembers a failure of the underlying reader so that a
// client hanging up mid-upload is told apart from a full disk.
type readErrReader struct {
	r   io.Reader
	err error
}

func (e *readErrReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// received is an upload sitting in tmp/, complete and fsynced.
type received struct {
	path   string
	size   int64
	sha256 string
}

// receive streams r into a file under tmp/, refusing more than limit bytes
// whatever the client declared, and fsyncs it.
func (s *Service) receive(r io.Reader, limit int64) (*received, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("create temp file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	src := &readErrReader{r: r}
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(src, limit+1))
	switch {
	case src.err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadRequestBody, src.err)
	case err != nil:
		return nil, fmt.Errorf("write upload: %w", err)
	case n > limit:
		return nil, ErrTooLarge
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsync upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close upload: %w", err)
	}
	ok = true
	return &received{path: f.Name(), size: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// discard removes a received file that will not be committed.
func (rc *received) discard() { _ = os.Remove(rc.path) }

// commitFile moves a fsynced temp file to final and makes the rename (and
// any directories it needed) durable.
func (s *Service) commitFile(tmpPath, final string) error {
	dir := filepath.Dir(final)
	if err := s.mkdirDurable(dir); err != nil {
		return err
	}
	if err := os.Rename(tmpPath, final); err != nil {
		return fmt.Errorf("move upload into place: %w", err)
	}
	return syncDir(dir)
}

// writeFileDurable writes data to final via a temp file; used for
// thumbnails, which are cheap to lose but must never be seen half-written.
func (s *Service) writeFileDurable(final string, data []byte) error {
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "thumb-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.commitFile(f.Name(), final)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// mkdirDurable creates dir and fsyncs every directory whose entries
// changed, so a new shard directory is not lost with the file inside it.
func (s *Service) mkdirDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	// Find the deepest ancestor that exists; everything below it is new.
	existing := filepath.Dir(dir)
	for existing != s.root && existing != filepath.Dir(existing) {
		if _, err := os.Stat(existing); err == nil {
			break
		}
		existing = filepath.Dir(existing)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create media directory: %w", err)
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if err := syncDir(d); err != nil {
			return err
		}
		if d == existing || d == filepath.Dir(d) {
			return nil
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}
