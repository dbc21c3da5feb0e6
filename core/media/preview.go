package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/internal/netguard"
)

// Errors from Previewer.Preview besides ErrBlockedAddress.
var (
	ErrInvalidURL    = errors.New("URL must be an absolute http or https URL")
	ErrPreviewFailed = errors.New("failed to fetch the URL")
)

// PreviewConfig configures URL previews; the lists are Synapse's
// url_preview_ip_range_blacklist and url_preview_ip_range_whitelist.
type PreviewConfig struct {
	Blacklist []string // CIDRs or addresses previews never connect to
	Whitelist []string // exceptions to Blacklist
	// MaxSize bounds a fetched page or image (Synapse's max_spider_size);
	// 10 MiB when zero.
	MaxSize int64
	// Timeout bounds one preview, image included; 15 s when zero.
	Timeout time.Duration
}

// Previewer makes URL previews: it fetches a page, reads its Open Graph
// tags, and stores the page's image as local media so clients can show it
// through the media repository.
type Previewer struct {
	svc     *Service
	client  *http.Client
	maxSize int64
	timeout time.Duration
	log     zerolog.Logger

	mu    sync.Mutex
	cache map[string]cachedPreview
}

type cachedPreview struct {
	og      map[string]any
	expires time.Time
}

// Preview results are kept an hour, as Synapse does, so a link posted in a
// busy room is fetched once.
const (
	previewTTL        = time.Hour
	previewCacheLimit = 1000
)

// NewPreviewer builds a previewer; it fails on a malformed CIDR.
func NewPreviewer(svc *Service, cfg PreviewConfig, log zerolog.Logger) (*Previewer, error) {
	guard, err := netguard.New("url_preview_ip_range_blacklist", cfg.Blacklist, cfg.Whitelist)
	if err != nil {
		return nil, fmt.Errorf("url_preview_ip_range_blacklist/whitelist: %w", err)
	}
	p := &Previewer{
		svc: svc, maxSize: cfg.MaxSize, timeout: cfg.Timeout,
		log: log.With().Str("component", "url_preview").Logger(), cache: map[string]cachedPreview{},
	}
	if p.maxSize <= 0 {
		p.maxSize = 10 << 20
	}
	if p.timeout <= 0 {
		p.timeout = 15 * time.Second
	}
	p.client = newPreviewClient(guard, p.timeout)
	return p, nil
}

// Preview returns the Open Graph data for rawURL, fetching it unless a
// recent result is cached. Images found are stored as media owned by
// userID. Errors: ErrInvalidURL, ErrBlockedAddress, ErrPreviewFailed.
func (p *Previewer) Preview(ctx context.Context, rawURL, userID string) (map[string]any, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ErrInvalidURL
	}
	u.Fragment, u.RawFragment = "", ""
	key := u.String()
	if og, ok := p.cached(key); ok {
		return og, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	page, err := p.fetch(ctx, u)
	if err != nil {
		return nil, err
	}
	var og map[string]any
	switch {
	case strings.HasPrefix(page.mediaType, "image/"):
		og = map[string]any{}
		p.addImage(ctx, og, page, userID)
	case page.mediaType == "text/html" || page.mediaType == "application/xhtml+xml":
		og = parseOpenGraph(page.body, page.contentType, page.url)
		if img, _ := og["og:image"].(string); img != "" {
			delete(og, "og:image")
			p.fetchImage(ctx, og, img, userID)
		}
	default:
		og = map[string]any{}
	}
	p.store(key, og)
	return og, nil
}

type fetched struct {
	url         *url.URL // after redirects
	contentType string
	mediaType   string
	body        []byte
}

func (p *Previewer) fetch(ctx context.Context, u *url.URL) (*fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, ErrInvalidURL
	}
	req.Header.Set("User-Agent", "Gatehouse (Matrix homeserver URL preview)")
	req.Header.Set("Accept-Language", "en")
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrBlockedAddress) {
			return nil, ErrBlockedAddress
		}
		return nil, fmt.Errorf("%w: %v", ErrPreviewFailed, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", ErrPreviewFailed, resp.StatusCode)
	}
	// A page larger than the limit is cut short: its head, where the tags
	// are, comes first.
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxSize))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPreviewFailed, err)
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	return &fetched{url: resp.Request.URL, contentType: ct, mediaType: strings.ToLower(mt), body: body}, nil
}

// fetchImage resolves and stores a page's og:image; a failure only drops
// the image from the preview.
func (p *Previewer) fetchImage(ctx context.Context, og map[string]any, ref, userID string) {
	u, err := url.Parse(ref)
	if err != nil {
		return
	}
	img, err := p.fetch(ctx, u)
	if err != nil || !strings.HasPrefix(img.mediaType, "image/") {
		p.log.Debug().Err(err).Str("url", ref).Msg("Preview image not fetched")
		return
	}
	p.addImage(ctx, og, img, userID)
}

// addImage stores an image and describes it the way Synapse does, with
// og:image as an mxc URI.
func (p *Previewer) addImage(ctx context.Context, og map[string]any, img *fetched, userID string) {
	if int64(len(img.body)) >= p.maxSize {
		return // possibly truncated
	}
	info, err := ProbeImage(bytes.NewReader(img.body))
	if err != nil && !errors.Is(err, ErrImageTooLarge) {
		return
	}
	name := path.Base(img.url.Path)
	if name == "/" || name == "." {
		name = ""
	}
	m, err := p.svc.Upload(ctx, UploadParams{
		UserID: userID, ContentType: img.contentType, FileName: name,
		Body: bytes.NewReader(img.body), DeclaredSize: int64(len(img.body)),
	})
	if err != nil {
		p.log.Warn().Err(err).Msg("Failed to store preview image")
		return
	}
	og["og:image"] = m.MXC()
	og["og:image:type"] = img.mediaType
	og["matrix:image:size"] = m.Size
	if info != nil {
		og["og:image:width"], og["og:image:height"] = info.Width, info.Height
	}
}

func (p *Previewer) cached(key string) (map[string]any, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.cache[key]
	if !ok || time.Now().After(c.expires) {
		return nil, false
	}
	return c.og, true
}

func (p *Previewer) store(key string, og map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if len(p.cache) >= previewCacheLimit {
		for k, c := range p.cache {
			if now.After(c.expires) {
				delete(p.cache, k)
			}
		}
		if len(p.cache) >= previewCacheLimit {
			clear(p.cache)
		}
	}
	p.cache[key] = cachedPreview{og: og, expires: now.Add(previewTTL)}
}
