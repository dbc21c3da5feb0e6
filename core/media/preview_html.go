package media

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
)

// Bounds on what a page can put into a preview.
const (
	maxOGTags        = 50
	maxOGValueLen    = 1000
	maxDescLen       = 500 // Synapse's truncation of og:description
	maxTitleTokenLen = 1000
)

// parseOpenGraph reads the og:* meta tags of an HTML page, falling back to
// <title> and <meta name="description"> as Synapse does. og:image and
// og:url are resolved against base. Malformed HTML yields what could be
// read, never an error.
func parseOpenGraph(body []byte, contentType string, base *url.URL) map[string]any {
	og := map[string]any{}
	var r io.Reader = bytes.NewReader(body)
	if cr, err := charset.NewReader(r, contentType); err == nil {
		r = cr
	}
	var title, desc string
	z := html.NewTokenizer(r)
	inTitle := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			finishOpenGraph(og, title, desc, base)
			return og
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "title":
				inTitle = title == ""
			case "meta":
				if hasAttr {
					readMeta(z, og, &desc)
				}
			}
		case html.EndTagToken:
			inTitle = false
		case html.TextToken:
			if inTitle {
				title = strings.TrimSpace(string(z.Text()))
				inTitle = false
			}
		}
	}
}

func readMeta(z *html.Tokenizer, og map[string]any, desc *string) {
	var prop, name, content string
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "property":
			prop = strings.ToLower(string(v))
		case "name":
			name = strings.ToLower(string(v))
		case "content":
			content = string(v)
		}
		if !more {
			break
		}
	}
	if prop == "" && strings.HasPrefix(name, "og:") {
		prop = name // some sites use name= for og tags
	}
	switch {
	case strings.HasPrefix(prop, "og:"):
		if _, seen := og[prop]; !seen && len(og) < maxOGTags {
			og[prop] = truncate(strings.TrimSpace(content), maxOGValueLen)
		}
	case name == "description" && *desc == "":
		*desc = strings.TrimSpace(content)
	}
}

func finishOpenGraph(og map[string]any, title, desc string, base *url.URL) {
	if _, ok := og["og:title"]; !ok && title != "" {
		og["og:title"] = truncate(title, maxTitleTokenLen)
	}
	if _, ok := og["og:description"]; !ok && desc != "" {
		og["og:description"] = desc
	}
	if d, ok := og["og:description"].(string); ok {
		og["og:description"] = truncate(d, maxDescLen)
	}
	for _, key := range []string{"og:image", "og:url"} {
		ref, _ := og[key].(string)
		if ref == "" {
			delete(og, key)
			continue
		}
		u, err := base.Parse(ref)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			delete(og, key)
			continue
		}
		og[key] = u.String()
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
