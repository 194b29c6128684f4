package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/airlock-offline/airlock/internal/testrig/qrphoto"
	"github.com/airlock-offline/airlock/qr"
)

// photoCorpus is the size of the phone photo corpus.
const photoCorpus = 200

// photoFigures reads a corpus of simulated phone photos (qrphoto.Random:
// versions 10–20, scale 40–100 %, rotation up to 15°, tilt, lens
// distortion, blur, noise, JPEG 50–90, grey or cluttered background) with
// airlock, zbarimg and ZXingReader, and times a 12 MP photo without a code
// and one with a code.
func photoFigures() {
	photos, err := qrphoto.MakeAll(qrphoto.Corpus(2026, photoCorpus))
	if err != nil {
		fmt.Println("photos:           cannot make the corpus:", err)
		return
	}
	decoders := []qrphoto.Decoder{qrphoto.Airlock}
	var missing []string
	for _, d := range []qrphoto.Decoder{qrphoto.Zbarimg, qrphoto.ZXingReader} {
		if d.Available() {
			decoders = append(decoders, d)
		} else {
			missing = append(missing, d.Package)
		}
	}
	dir := must(os.MkdirTemp("", "airlock-photos-"))
	defer os.RemoveAll(dir)
	scores := must(qrphoto.Compare(dir, photos, decoders))
	fmt.Printf("phone photos:     %d simulated photos of codes v10-v20 (every decoder on the same files; ms/photo is wall time, %d photos at a time)\n", photoCorpus, runtime.GOMAXPROCS(0))
	for _, s := range scores {
		fmt.Printf("                  %s\n", s)
	}
	if len(missing) > 0 {
		fmt.Printf("                  (not installed, not compared: %v)\n", missing)
	}
	if len(scores) > 1 && scores[1].Decoder == "zbarimg" {
		fmt.Printf("                  airlock vs zbarimg: %d vs %d read (target: at least as many: %s)\n", scores[0].OK, scores[1].OK, photoVerdict(scores[0].OK >= scores[1].OK))
	}

	empty := must(qrphoto.Empty(qrphoto.Params{Clutter: true, Noise: 8, JPEG: 85, Seed: 5, Blur: 0.6}, 4000, 3000))
	best := time.Hour
	for range 5 {
		t := time.Now()
		qr.DecodeImage(bytes.NewReader(empty))
		best = min(best, time.Since(t))
	}
	fmt.Printf("12 MP, no code:   %6.0f ms to say so, JPEG decoding included (best of 5; target well under 500 ms: %s)\n", float64(best.Microseconds())/1e3, photoVerdict(best < 400*time.Millisecond))
	p := qrphoto.Params{Version: 15, Scale: 0.8, Rotate: 5, TiltX: 0.04, Clutter: true, Noise: 8, JPEG: 85, Seed: 6, Blur: 0.6, W: 4000, H: 3000}
	ph := must(qrphoto.Make(p))
	best = time.Hour
	read := false
	for range 3 {
		t := time.Now()
		texts, err := qr.DecodeImage(bytes.NewReader(ph.JPEG))
		best = min(best, time.Since(t))
		read = err == nil && len(texts) == 1 && texts[0] == ph.Text
	}
	fmt.Printf("12 MP, one code:  %6.0f ms (read: %v; %v)\n", float64(best.Microseconds())/1e3, read, p)
}

func photoVerdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "OVER TARGET"
}
