package serverconsole

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/airlock-offline/airlock/floating"
)

// FuzzForms posts anything to the console's changes, signed in as an admin
// with a good CSRF token: every answer is a refusal or a success with a
// code, never a crash or a server error.
func FuzzForms(f *testing.F) {
	fx := newFixture(f)
	tok, _, err := fx.srv.CreateToken("fuzz", floating.RoleAdmin, 0)
	if err != nil {
		f.Fatal(err)
	}
	s := fx.con.newSession(tok, "fuzz", false)
	csrf := fx.con.csrf.Token(s.id)
	h := fx.con.Handler()
	paths := []string{"/products", "/licenses", "/seats/release", "/scan", "/reports", "/logout"}
	types := []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "image/jpeg", ""}
	f.Add(uint8(0), uint8(0), []byte("product=acme-cam&license_key=K&hardware_key=yes"))
	f.Add(uint8(1), uint8(0), []byte("license=-----BEGIN+AIRLOCK+LICENSE-----%0AAAAA"))
	f.Add(uint8(1), uint8(1), []byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n\x89PNG\r\n--x--\r\n"))
	f.Add(uint8(2), uint8(0), []byte("lease=00112233445566778899aabbccddeeff"))
	f.Add(uint8(3), uint8(2), []byte("\xff\xd8\xff\xe0"))
	f.Fuzz(func(t *testing.T, p, ct uint8, body []byte) {
		path := paths[int(p)%(len(paths)-1)] // never /logout: the session must live
		r := httptest.NewRequest("POST", path+"?"+url.Values{}.Encode(), bytes.NewReader(body))
		r.Header.Set("Content-Type", types[int(ct)%len(types)])
		r.Header.Set("X-CSRF-Token", csrf)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.id})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("POST %s %q: %d\n%s", path, body, w.Code, w.Body.String())
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Fatal("an answer without CSP")
		}
	})
}
