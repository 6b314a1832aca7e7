// Command icons draws the Teams app icons: color.png (192x192, a white
// "door" on usher blue) and outline.png (32x32, the same shape in white on a
// transparent background, as Teams requires). Run from manifests/teams:
//
//	go run ./icons
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
)

var blue = color.RGBA{0x2E, 0x5E, 0x8C, 0xFF}

// inDoor reports whether (x, y), in a unit square, is part of the mark: an
// open door frame with an arrow walking in.
func inDoor(x, y float64) bool {
	frame := (x >= 0.22 && x <= 0.78 && y >= 0.14 && y <= 0.86) &&
		!(x > 0.32 && x < 0.68 && y > 0.24) // the opening
	arrowShaft := x >= 0.40 && x <= 0.62 && y >= 0.52 && y <= 0.62
	head := x >= 0.56 && x <= 0.74 && (y-0.57) <= (0.74-x)*0.9 && (0.57-y) <= (0.74-x)*0.9
	return frame || arrowShaft || head
}

func draw(size int, bg color.Color) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for py := range size {
		for px := range size {
			// 4x4 supersampling for smooth edges.
			hits := 0
			for sy := range 4 {
				for sx := range 4 {
					if inDoor((float64(px)+(float64(sx)+0.5)/4)/float64(size), (float64(py)+(float64(sy)+0.5)/4)/float64(size)) {
						hits++
					}
				}
			}
			cover := float64(hits) / 16
			if bg == nil {
				img.Set(px, py, color.NRGBA{0xFF, 0xFF, 0xFF, uint8(cover * 255)})
				continue
			}
			r, g, b, _ := bg.RGBA()
			mix := func(c uint32) uint8 { return uint8(float64(c>>8)*(1-cover) + 255*cover) }
			img.Set(px, py, color.NRGBA{mix(r), mix(g), mix(b), 0xFF})
		}
	}
	return img
}

func write(name string, img image.Image) {
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func main() {
	write("color.png", draw(192, blue))
	write("outline.png", draw(32, nil))
}
