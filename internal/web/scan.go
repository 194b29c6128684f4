package web

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/qr"
)

// Limits of the scanner.
const (
	// MaxFrameBytes is the largest camera frame or uploaded image read.
	MaxFrameBytes = 2 << 20
	// MaxUploadBytes is the largest uploaded message file read.
	MaxUploadBytes = 1 << 20
	// MaxScanSessions bounds how many sessions' partial scans are kept;
	// the oldest is dropped first.
	MaxScanSessions = 64
	// ScanIdle is how long a partial scan is kept without a new frame.
	ScanIdle = 10 * time.Minute
)

// ErrNoMessage means an upload held neither airlock text nor a readable
// QR code of one.
var ErrNoMessage = errors.New("no airlock message in it: neither its text nor a readable QR code of it")

// ScanResult is what the page is told after each frame.
type ScanResult struct {
	Done   bool   `json:"done"`
	Text   string `json:"text,omitempty"` // the whole message, armored, when Done
	Status string `json:"status"`         // what to tell the user now
	Code   string `json:"code,omitempty"` // a stable code when a frame was refused
}

// Scanner turns webcam frames into messages: each frame is decoded with
// the qr package and the codes' text collected per session, so a message
// shown as several codes one after another is put together as they pass.
type Scanner struct {
	mu   sync.Mutex
	sess map[string]*scan
}

type scan struct {
	c    *armor.Collector
	seen time.Time
}

// NewScanner returns an empty Scanner.
func NewScanner() *Scanner { return &Scanner{sess: map[string]*scan{}} }

// Frame decodes one frame (PNG or JPEG, at most MaxFrameBytes) for
// session. A frame without a code is not an error: the result says to keep
// the code in view. When the message is whole, the result is Done with its
// text, and the session starts afresh.
func (s *Scanner) Frame(session string, img []byte) (ScanResult, error) {
	if len(img) > MaxFrameBytes {
		return ScanResult{Status: "frame too large", Code: "frame_too_large"}, fmt.Errorf("%w: more than %d bytes", qr.ErrImageTooLarge, MaxFrameBytes)
	}
	texts, err := qr.DecodeImage(bytes.NewReader(img))
	if errors.Is(err, qr.ErrNotFound) {
		return ScanResult{Status: "looking for a QR code…"}, nil
	}
	if err != nil {
		return ScanResult{Status: "the frame could not be read", Code: "bad_frame"}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	sc := s.session(session, now)
	for _, t := range texts {
		_, _ = sc.c.Write([]byte(strings.TrimSpace(t) + "\n"))
	}
	if sc.c.Done() {
		k, p, _, err := sc.c.Result()
		delete(s.sess, session)
		if err != nil {
			return ScanResult{Status: "the codes did not make a message", Code: "malformed"}, err
		}
		return ScanResult{Done: true, Text: armor.Text(k, p), Status: fmt.Sprintf("read the %s", k)}, nil
	}
	return ScanResult{Status: progress(sc.c)}, nil
}

// session finds or makes session's scan; it drops idle ones and, past
// MaxScanSessions, the oldest.
func (s *Scanner) session(id string, now time.Time) *scan {
	for k, v := range s.sess {
		if now.Sub(v.seen) > ScanIdle {
			delete(s.sess, k)
		}
	}
	sc := s.sess[id]
	if sc == nil {
		if len(s.sess) >= MaxScanSessions {
			var oldest string
			for k, v := range s.sess {
				if oldest == "" || v.seen.Before(s.sess[oldest].seen) {
					oldest = k
				}
			}
			delete(s.sess, oldest)
		}
		sc = &scan{c: &armor.Collector{}}
		s.sess[id] = sc
	}
	sc.seen = now
	return sc
}

// progress says which parts are in.
func progress(c *armor.Collector) string {
	ev := c.Events()
	for i := len(ev) - 1; i >= 0; i-- {
		st := ev[i].Status
		if ev[i].Type == armor.Progress && st.Total > 1 {
			return fmt.Sprintf("%d of %d parts read; show the next code", len(st.Have), st.Total)
		}
	}
	return "code seen; hold it steady…"
}

// DecodeUpload reads an uploaded file: the message's text itself (as
// written by -o, or pasted with stray line breaks), or a photo or
// screenshot of its QR code(s). It returns the armored message.
func DecodeUpload(data []byte) (string, error) {
	if len(data) > qr.MaxImageBytes {
		return "", fmt.Errorf("%w: more than %d bytes", qr.ErrImageTooLarge, qr.MaxImageBytes)
	}
	var texts []string
	if bytes.HasPrefix(data, []byte("\x89PNG")) || bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}) {
		t, err := qr.DecodeImage(bytes.NewReader(data))
		if err != nil {
			return "", err
		}
		texts = t
	} else {
		if len(data) > MaxUploadBytes {
			return "", fmt.Errorf("the file is larger than %d bytes", MaxUploadBytes)
		}
		texts = []string{string(data)}
	}
	c := &armor.Collector{}
	for _, t := range texts {
		_, _ = c.Write([]byte(t + "\n"))
	}
	c.Close()
	if !c.Done() {
		return "", ErrNoMessage
	}
	k, p, _, err := c.Result()
	if err != nil {
		return "", err
	}
	return armor.Text(k, p), nil
}
