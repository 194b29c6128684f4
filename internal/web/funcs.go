package web

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"time"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/chart"
	"github.com/airlock-offline/airlock/qr"
)

// Funcs are the functions every console template may call:
//
//	qr TEXT          PNG data URLs of the QR codes of an armored message, one per part
//	lineChart T U S… chart.Line
//	barChart T B…    chart.Bars
//	datetime T       "2006-01-02 15:04 UTC" ("" for the zero time)
//	ago T            "3 min ago"
//	bytes N          "1.2 KiB"
func Funcs() template.FuncMap {
	return template.FuncMap{
		"qr":        QRImages,
		"lineChart": chart.Line,
		"barChart":  chart.Bars,
		"datetime":  datetime,
		"ago":       func(t time.Time) string { return ago(t, time.Now()) },
		"bytes":     byteSize,
	}
}

// QRPixels is the size of a module in the consoles' QR images: large
// enough for a phone held at arm's length to read a version-20 code off a
// laptop screen.
const QRPixels = 6

// QRImages renders an armored message as QR codes, the way the command
// line does (the same planning: parts when one code would be too dense),
// and returns each as a PNG data URL, in part order.
func QRImages(text string) ([]template.URL, error) {
	k, payload, err := armor.Decode([]byte(text))
	if err != nil {
		return nil, err
	}
	opt := qr.Options{PixelsPerModule: QRPixels}
	codes, err := qr.Plan(k, payload, opt)
	if err != nil {
		return nil, err
	}
	out := make([]template.URL, len(codes))
	for i, c := range codes {
		png, err := c.PNG(opt)
		if err != nil {
			return nil, err
		}
		out[i] = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	return out, nil
}

func datetime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func byteSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}
