package media

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestMakeThumbnailSizes(t *testing.T) {
	sources := map[string][]byte{
		"png":       pngBytes(t, testImage(800, 600, false)),
		"png-alpha": pngBytes(t, testImage(800, 600, true)),
		"jpeg":      jpegBytes(t, testImage(800, 600, false)),
		"gif":       gifBytes(t, 800, 600, 2),
	}
	cases := []struct {
		w, h   int
		method string
		wantW  int
		wantH  int
	}{
		{320, 240, MethodScale, 320, 240},
		{100, 100, MethodScale, 100, 75},    // fit within, keep 4:3
		{400, 100, MethodScale, 133, 100},   // height bounds
		{2000, 2000, MethodScale, 800, 600}, // never upscale
		{96, 96, MethodCrop, 96, 96},
		{32, 32, MethodCrop, 32, 32},
		{300, 100, MethodCrop, 300, 100},
		{1000, 1000, MethodCrop, 600, 600}, // request's aspect, shrunk to fit
		{1600, 600, MethodCrop, 800, 300},
	}
	for name, src := range sources {
		for _, c := range cases {
			th, err := MakeThumbnail(bytes.NewReader(src), c.w, c.h, c.method)
			if err != nil {
				t.Fatalf("%s %dx%d %s: %v", name, c.w, c.h, c.method, err)
			}
			decodeThumb(t, th)
			if th.Width != c.wantW || th.Height != c.wantH {
				t.Errorf("%s %dx%d %s = %dx%d, want %dx%d", name, c.w, c.h, c.method, th.Width, th.Height, c.wantW, c.wantH)
			}
			wantType := "image/jpeg"
			if name == "png-alpha" {
				wantType = "image/png"
			}
			if th.ContentType != wantType {
				t.Errorf("%s: content type %s, want %s", name, th.ContentType, wantType)
			}
		}
	}
}

func TestMakeThumbnailCropTakesCentre(t *testing.T) {
	// A 300x100 image: red left third, green middle, blue right third.
	img := testImage(300, 100, false)
	for y := 0; y < 100; y++ {
		for x := 0; x < 300; x++ {
			c := img.NRGBAAt(x, y)
			c.R, c.G, c.B = 0, 0, 0
			switch {
			case x < 100:
				c.R = 255
			case x < 200:
				c.G = 255
			default:
				c.B = 255
			}
			img.SetNRGBA(x, y, c)
		}
	}
	th, err := MakeThumbnail(bytes.NewReader(pngBytes(t, img)), 50, 50, MethodCrop)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeThumb(t, th)
	for _, p := range [][2]int{{2, 2}, {47, 47}, {25, 25}} {
		r, g, b, _ := out.At(p[0], p[1]).RGBA()
		if g>>8 < 200 || r>>8 > 60 || b>>8 > 60 {
			t.Errorf("pixel %v = %d,%d,%d; want the green centre", p, r>>8, g>>8, b>>8)
		}
	}
}

func TestMakeThumbnailWebP(t *testing.T) {
	for _, c := range []struct {
		file, wantType string
		w, h           int
	}{
		{"testdata/blue-purple-pink.lossy.webp", "image/jpeg", 48, 32},        // 150x100
		{"testdata/gopher-doc.with-alpha.lossless.webp", "image/png", 24, 32}, // 75x100
	} {
		data, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		th, err := MakeThumbnail(bytes.NewReader(data), 48, 32, MethodScale)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		decodeThumb(t, th)
		if th.ContentType != c.wantType || th.Width != c.w || th.Height != c.h {
			t.Errorf("%s: %s %dx%d, want %s %dx%d", c.file, th.ContentType, th.Width, th.Height, c.wantType, c.w, c.h)
		}
	}
}

func TestMakeThumbnailEXIFOrientation(t *testing.T) {
	// Stored 800x600 with orientation 6: displayed 600x800, the stored
	// top-left (red) quadrant ending up top-right.
	src := withEXIFOrientation(jpegBytes(t, testImage(800, 600, false)), 6)
	th, err := MakeThumbnail(bytes.NewReader(src), 320, 320, MethodScale)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeThumb(t, th)
	if th.Width != 240 || th.Height != 320 {
		t.Fatalf("size %dx%d, want 240x320", th.Width, th.Height)
	}
	r, _, b, _ := out.At(200, 40).RGBA()
	if r>>8 < 200 || b>>8 > 80 {
		t.Errorf("top-right pixel = r%d b%d; want red", r>>8, b>>8)
	}
	r, _, _, _ = out.At(40, 40).RGBA()
	if r>>8 > 80 {
		t.Errorf("top-left pixel red = %d; want blue", r>>8)
	}
	if o := parseJPEGOrientation(src); o != 6 {
		t.Errorf("orientation = %d", o)
	}
}

func TestMakeThumbnailRefusesBombs(t *testing.T) {
	_, err := MakeThumbnail(bytes.NewReader(bombPNG(100000, 100000)), 96, 96, MethodCrop)
	if !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("err = %v, want ErrImageTooLarge", err)
	}
	if !strings.Contains(err.Error(), "100000x100000") {
		t.Errorf("error %q does not say the size", err)
	}
	// Just under the limit is only refused for lacking pixel data.
	_, err = MakeThumbnail(bytes.NewReader(bombPNG(8000, 5000)), 96, 96, MethodCrop)
	if !errors.Is(err, ErrNotThumbnailable) {
		t.Errorf("40 MP with no data: err = %v, want ErrNotThumbnailable", err)
	}
}

func TestMakeThumbnailRejects(t *testing.T) {
	png := pngBytes(t, testImage(10, 10, false))
	for name, c := range map[string]struct {
		data   []byte
		w, h   int
		method string
		want   error
	}{
		"text":       {[]byte("hello, world"), 10, 10, MethodScale, ErrNotThumbnailable},
		"empty":      {nil, 10, 10, MethodScale, ErrNotThumbnailable},
		"svg":        {[]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), 10, 10, MethodScale, ErrNotThumbnailable},
		"truncated":  {png[:len(png)/2], 10, 10, MethodScale, ErrNotThumbnailable},
		"zero width": {png, 0, 10, MethodScale, nil},
		"bad method": {png, 10, 10, "stretch", nil},
	} {
		_, err := MakeThumbnail(bytes.NewReader(c.data), c.w, c.h, c.method)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
}

// FuzzMakeThumbnail feeds arbitrary bytes to the decoders: the result may
// be an error, never a panic or a thumbnail larger than asked.
func FuzzMakeThumbnail(f *testing.F) {
	f.Add(pngBytes(f, testImage(16, 12, true)), 8, 8, true)
	f.Add(jpegBytes(f, testImage(16, 12, false)), 8, 4, false)
	f.Add(withEXIFOrientation(jpegBytes(f, testImage(16, 12, false)), 8), 5, 9, false)
	f.Add(gifBytes(f, 16, 12, 2), 4, 4, true)
	f.Add(bombPNG(100000, 100000), 10, 10, false)
	if data, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp"); err == nil {
		f.Add(data, 20, 20, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, w, h int, crop bool) {
		w, h = 1+int(uint(w)%64), 1+int(uint(h)%64)
		method := MethodScale
		if crop {
			method = MethodCrop
		}
		th, err := MakeThumbnail(bytes.NewReader(data), w, h, method)
		if err != nil {
			return
		}
		if th.Width > w || th.Height > h || th.Width < 1 || th.Height < 1 {
			t.Fatalf("thumbnail %dx%d for a %dx%d box", th.Width, th.Height, w, h)
		}
	})
}

// FuzzJPEGOrientation checks the EXIF walker on arbitrary bytes.
func FuzzJPEGOrientation(f *testing.F) {
	f.Add(withEXIFOrientation(jpegBytes(f, testImage(4, 4, false)), 6))
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x08Exif\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := parseJPEGOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}
