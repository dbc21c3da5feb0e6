package media

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"

	_ "image/gif" // registers the decoder; image.Decode yields the first frame

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)

// MaxThumbnailPixels is the largest image (width x height) we decode. The
// dimensions are read from the header before any pixel is decoded, so a
// tiny file claiming 100000x100000 costs nothing. 40 MP is a 160 MB RGBA
// buffer, about what a phone camera produces.
const MaxThumbnailPixels = 40_000_000

// Thumbnail methods from the spec.
const (
	MethodScale = "scale" // fit within the box, keeping the aspect ratio
	MethodCrop  = "crop"  // fill the box, then cut the overflow from the centre
)

// Thumb is an encoded thumbnail.
type Thumb struct {
	Data        []byte
	ContentType string // image/jpeg, or image/png when the source has alpha
	Width       int
	Height      int
}

// ImageInfo is what an image's header says about it.
type ImageInfo struct {
	Format        string // "jpeg", "png", "gif", "webp"
	Width, Height int
}

// ProbeImage reads an image header. It returns ErrNotThumbnailable for
// content no decoder recognises and ErrImageTooLarge (with the dimensions
// in the message) for images over MaxThumbnailPixels.
func ProbeImage(r io.Reader) (*ImageInfo, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotThumbnailable, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: image is %dx%d", ErrNotThumbnailable, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxThumbnailPixels {
		return nil, fmt.Errorf("%w: image is %dx%d, over the limit of %d megapixels",
			ErrImageTooLarge, cfg.Width, cfg.Height, MaxThumbnailPixels/1_000_000)
	}
	return &ImageInfo{Format: format, Width: cfg.Width, Height: cfg.Height}, nil
}

// MakeThumbnail decodes an image (JPEG, PNG, first frame of a GIF, WebP)
// and scales it into a width x height box by method, never upscaling and
// honouring JPEG EXIF orientation. It refuses decompression bombs before
// decoding any pixels. Arbitrary input yields an error, never a panic.
func MakeThumbnail(src io.ReadSeeker, width, height int, method string) (*Thumb, error) {
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("thumbnail size must be positive, got %dx%d", width, height)
	}
	if method != MethodScale && method != MethodCrop {
		return nil, fmt.Errorf("unknown thumbnail method %q", method)
	}
	info, err := ProbeImage(bufio.NewReader(src))
	if err != nil {
		return nil, err
	}
	orientation := 1
	if info.Format == "jpeg" {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		orientation = exifOrientation(src)
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bufio.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotThumbnailable, err)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || int64(b.Dx())*int64(b.Dy()) > MaxThumbnailPixels {
		return nil, fmt.Errorf("%w: decoded image is %dx%d", ErrNotThumbnailable, b.Dx(), b.Dy())
	}
	// Orientations 5-8 swap the axes: fit the unrotated image into the
	// swapped box, then rotate the small result. Centre-cropping commutes
	// with flips and quarter turns, so both methods stay correct.
	if orientation >= 5 {
		width, height = height, width
	}
	dst := resize(img, width, height, method)
	out := applyOrientation(dst, orientation)
	return encode(out, isOpaque(img))
}

// fitSize is the largest size with the source's aspect ratio that fits in
// the box and is no larger than the source.
func fitSize(sw, sh, w, h int) (int, int) {
	f := math.Min(1, math.Min(float64(w)/float64(sw), float64(h)/float64(sh)))
	return max(1, int(math.Round(float64(sw)*f))), max(1, int(math.Round(float64(sh)*f)))
}

// cropSize is the box's aspect ratio shrunk until it fits in the source,
// so a crop never upscales either.
func cropSize(sw, sh, w, h int) (int, int) {
	f := math.Min(1, math.Min(float64(sw)/float64(w), float64(sh)/float64(h)))
	return max(1, int(math.Round(float64(w)*f))), max(1, int(math.Round(float64(h)*f)))
}

func resize(img image.Image, w, h int, method string) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	srcRect := b
	var tw, th int
	if method == MethodCrop {
		tw, th = cropSize(sw, sh, w, h)
		// Fill: scale by the larger ratio; take the centre of the source
		// that maps onto the target.
		k := math.Max(float64(tw)/float64(sw), float64(th)/float64(sh))
		cw := min(sw, max(1, int(math.Round(float64(tw)/k))))
		ch := min(sh, max(1, int(math.Round(float64(th)/k))))
		x0, y0 := b.Min.X+(sw-cw)/2, b.Min.Y+(sh-ch)/2
		srcRect = image.Rect(x0, y0, x0+cw, y0+ch)
	} else {
		tw, th = fitSize(sw, sh, w, h)
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, srcRect, draw.Src, nil)
	return dst
}

func isOpaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// encode writes JPEG for opaque images (far smaller for photos) and PNG
// when there is transparency to keep.
func encode(img *image.RGBA, opaque bool) (*Thumb, error) {
	var buf bytes.Buffer
	t := &Thumb{Width: img.Rect.Dx(), Height: img.Rect.Dy()}
	if opaque {
		t.ContentType = "image/jpeg"
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
			return nil, err
		}
	} else {
		t.ContentType = "image/png"
		if err := png.Encode(&buf, img); err != nil {
			return nil, err
		}
	}
	t.Data = buf.Bytes()
	return t, nil
}
