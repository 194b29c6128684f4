package qr_test

import (
	"flag"
	"testing"

	"github.com/airlock-offline/airlock/internal/qrphoto"
)

var photoCorpus = flag.Int("qr.photos", 0, "run TestPhotoCorpusSweep on this many photos")

func TestPhotoCorpusSweep(t *testing.T) {
	if *photoCorpus == 0 {
		t.Skip("run with -qr.photos=N")
	}
	photos, err := qrphoto.MakeAll(qrphoto.Corpus(1, *photoCorpus))
	if err != nil {
		t.Fatal(err)
	}
	scores, err := qrphoto.Compare(t.TempDir(), photos, []qrphoto.Decoder{qrphoto.Airlock, qrphoto.Zbarimg, qrphoto.ZXingReader})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		t.Log(s)
		for _, i := range s.Failed {
			t.Logf("  missed %d: %v", i, photos[i].Params)
		}
	}
}
