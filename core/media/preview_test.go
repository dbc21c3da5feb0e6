package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/internal/netguard"
)

var defaultBlacklist = config.Defaults().URLPreviewIPRangeBlacklist

func newTestPreviewer(t *testing.T, whitelist ...string) (*Previewer, *Service) {
	t.Helper()
	s := newTestService(t, storagetest.NewSQLite(t), 1<<20)
	p, err := NewPreviewer(s, PreviewConfig{Blacklist: defaultBlacklist, Whitelist: whitelist}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

// countingServer serves handler on addr ("127.0.0.1:0" and the like) and
// counts the requests it sees.
func countingServer(t *testing.T, addr string, handler http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		handler(w, r)
	}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestIPGuard(t *testing.T) {
	g, err := netguard.New("url_preview_ip_range_blacklist", defaultBlacklist, []string{"192.168.1.5"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "169.254.169.254": false,
		"::1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "fe80::1%eth0": false,
		"0.0.0.0": false, "::": false,
		"64:ff9b::a00:1": false, "2002:7f00:1::1": false, // NAT64 / 6to4 forms of private IPv4
		"8.8.8.8": true, "2606:4700::1111": true, "64:ff9b::808:808": true,
		"192.168.1.5": true, "192.168.1.6": false, // whitelist beats blacklist
	} {
		if got := g.Permits(netip.MustParseAddr(addr)); got != want {
			t.Errorf("permits(%s) = %v, want %v", addr, got, want)
		}
	}
	if _, err := netguard.ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestPreviewRefusesLoopback(t *testing.T) {
	p, _ := newTestPreviewer(t)
	srv, hits := countingServer(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<title>secret</title>`)
	})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, u := range []string{srv.URL, fmt.Sprintf("http://localhost:%d/", port), fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port)} {
		if _, err := p.Preview(context.Background(), u, "@a:example.org"); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("%s: err = %v, want ErrBlockedAddress", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("blocked server saw %d requests", n)
	}
}

func TestPreviewRefusesRedirectToBlocked(t *testing.T) {
	p, _ := newTestPreviewer(t, "127.0.0.1/32")
	inner, innerHits := countingServer(t, "127.0.0.2:0", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<title>internal</title>`)
	})
	outer, _ := countingServer(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/admin", http.StatusFound)
	})
	if _, err := p.Preview(context.Background(), outer.URL, "@a:example.org"); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("err = %v, want ErrBlockedAddress", err)
	}
	if n := innerHits.Load(); n != 0 {
		t.Errorf("redirect target saw %d requests", n)
	}
}

func TestPreviewPage(t *testing.T) {
	p, s := newTestPreviewer(t, "127.0.0.1/32")
	img := pngBytes(t, testImage(64, 48, false))
	srv, hits := countingServer(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=windows-1252")
			fmt.Fprint(w, "<html><head><title>Fallback</title>"+
				`<meta property="og:title" content="Caf`+"\xe9"+` &amp; more">`+
				`<meta name="description" content="`+strings.Repeat("d", 800)+`">`+
				`<meta property="og:image" content="/img.png"><meta property="og:url" content="javascript:alert(1)">`+
				"</head><body>hi</body></html>")
		case "/img.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(img)
		default:
			http.NotFound(w, r)
		}
	})
	og, err := p.Preview(context.Background(), srv.URL+"/page#frag", "@a:example.org")
	if err != nil {
		t.Fatal(err)
	}
	if og["og:title"] != "Café & more" {
		t.Errorf("og:title = %q", og["og:title"])
	}
	if d, _ := og["og:description"].(string); !strings.HasPrefix(d, "ddd") || len(d) > maxDescLen+4 {
		t.Errorf("og:description = %q", d)
	}
	if _, ok := og["og:url"]; ok {
		t.Errorf("javascript: og:url kept: %v", og["og:url"])
	}
	if og["og:image:width"] != 64 || og["og:image:height"] != 48 || og["og:image:type"] != "image/png" ||
		og["matrix:image:size"] != int64(len(img)) {
		t.Errorf("image fields = %v", og)
	}
	server, id, err := ParseMXC(fmt.Sprint(og["og:image"]))
	if err != nil || server != "example.org" {
		t.Fatalf("og:image = %v", og["og:image"])
	}
	m, c, err := s.Open(context.Background(), server, id, 0)
	if err != nil || string(readContent(t, c)) != string(img) || m.UserID != "@a:example.org" {
		t.Fatalf("stored image: %+v, %v", m, err)
	}
	before := hits.Load()
	if _, err := p.Preview(context.Background(), srv.URL+"/page", "@b:example.org"); err != nil || hits.Load() != before {
		t.Errorf("second preview fetched again (%d -> %d), %v", before, hits.Load(), err)
	}

	direct, err := p.Preview(context.Background(), srv.URL+"/img.png", "@a:example.org")
	if err != nil || direct["og:image:width"] != 64 {
		t.Errorf("image URL preview = %v, %v", direct, err)
	}
	if _, err := p.Preview(context.Background(), srv.URL+"/missing", "@a:example.org"); !errors.Is(err, ErrPreviewFailed) {
		t.Errorf("404 page: err = %v", err)
	}
	for _, bad := range []string{"", "not a url", "ftp://example.org/", "http://", "/relative"} {
		if _, err := p.Preview(context.Background(), bad, "@a:example.org"); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestParseOpenGraph(t *testing.T) {
	base, _ := url.Parse("https://example.com/a/b.html")
	og := parseOpenGraph([]byte(`<title> T </title><meta name="og:description" content="named">`+
		`<meta property="OG:Image" content="../i.png"><meta property="og:title" content="first">`+
		`<meta property="og:title" content="second"><svg><title>not this</title></svg>`), "text/html", base)
	want := map[string]any{"og:title": "first", "og:description": "named", "og:image": "https://example.com/i.png"}
	if fmt.Sprint(og) != fmt.Sprint(want) {
		t.Errorf("og = %v, want %v", og, want)
	}
	if og := parseOpenGraph([]byte("<html><title>Only</title>"), "", base); og["og:title"] != "Only" {
		t.Errorf("fallback title = %v", og)
	}
}

func FuzzParseOpenGraph(f *testing.F) {
	f.Add([]byte(`<meta property="og:title" content="x"><title>t</title>`), "text/html; charset=utf-8")
	f.Add([]byte("<meta charset=\"shift_jis\"><title>\x82\xa0</title>"), "")
	base, _ := url.Parse("http://example.com/")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		og := parseOpenGraph(body, ct, base)
		if len(og) > maxOGTags+2 {
			t.Fatalf("%d tags", len(og))
		}
	})
}
