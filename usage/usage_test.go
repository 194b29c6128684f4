package usage_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/testrig/vectors"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

func sample(seq uint64, prev []byte) *usage.Report {
	return &usage.Report{
		Seq: seq, Prev: prev, From: t0.Unix(), To: t0.Add(30 * 24 * time.Hour).Unix(),
		Products: []usage.Product{{
			Product: "acme-cad", LicenseKey: "K7QF-2M9X-AB3D-EF4G", Seats: 25,
			Usage:    usage.Usage{Peak: 23, AverageMilli: 11500, Borrowed: 2, Denials: 4, Consumed: 900, OverageUsed: 12},
			Features: []usage.Feature{{Name: "render", Usage: usage.Usage{Peak: 5, AverageMilli: 2250, Denials: 1}}},
			Holders:  []usage.Holder{{Host: "ws-17", Installation: "AI1ABCD", Grants: 40}},
			Events:   []usage.EventCount{{Kind: "hwkey.missing", Count: 2}},
		}},
		Events:     []usage.EventCount{{Kind: "hwkey.missing", Count: 2}, {Kind: "clock.back", Count: 1}},
		Listed:     []usage.Event{{At: t0.Add(time.Hour).Unix(), Kind: "hwkey.missing", Product: "acme-cad", Detail: "reader empty"}},
		ClockJumps: []usage.ClockJump{{At: t0.Add(2 * time.Hour).Unix(), Seconds: -7200}},
	}
}

func sign(t testing.TB, r *usage.Report) *usage.Signed {
	t.Helper()
	s, err := usage.Sign(testkeys.Identity(crypto.RoleInstallation, "server"), r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVerify(t *testing.T) {
	s1 := sign(t, sample(1, nil))
	got, err := usage.ParseText(s1.Text())
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != s1.Hash || got.Report.Products[0].Usage != s1.Report.Products[0].Usage || got.Report.Seq != 1 ||
		fmt.Sprint(got.Report.Products[0].Events) != "[{hwkey.missing 2}]" {
		t.Fatalf("round trip: %+v", got.Report)
	}
	if !bytes.Equal(got.Report.Prev, make([]byte, 32)) {
		t.Errorf("report 1 follows %x", got.Report.Prev)
	}
	var b strings.Builder
	if err := got.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"usage report 1 of server", "product acme-cad", "peak 23 seats, average 11.500, borrowed up to 2; denials 4; consumed 900 (overage used 12)", "feature render", "ws-17", "  events: hwkey.missing 2\n", "hwkey.missing", "back 2h0m0s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, b.String())
		}
	}

	// Tampering breaks the signature; another message type is refused.
	bad := bytes.Clone(s1.Bytes)
	bad[len(bad)-1] ^= 1
	if _, err := usage.Verify(bad); result.CodeOf(err) != result.SignatureInvalid {
		t.Errorf("tampered: %v", err)
	}
	other, _ := crypto.Sign(testkeys.Identity(crypto.RoleInstallation, "server"), crypto.TagReceipt, []byte{0xa0})
	if _, err := usage.Verify(other); result.CodeOf(err) != result.Malformed {
		t.Errorf("a receipt as a report: %v", err)
	}
	if _, err := usage.ParseText(armor.Encode(armor.Receipt, s1.Bytes)); result.CodeOf(err) != result.Malformed {
		t.Errorf("wrong armor: %v", err)
	}

	for name, r := range map[string]*usage.Report{
		"report 1 with a prev":       sample(1, bytes.Repeat([]byte{1}, 32)),
		"no number":                  sample(0, make([]byte, 32)),
		"short prev":                 sample(2, []byte{1}),
		"period backwards":           func() *usage.Report { r := sample(2, make([]byte, 32)); r.To = r.From - 1; return r }(),
		"unknown event kind":         func() *usage.Report { r := sample(1, nil); r.Events[0].Kind = "nope"; return r }(),
		"product twice":              func() *usage.Report { r := sample(1, nil); r.Products = append(r.Products, r.Products[0]); return r }(),
		"unknown product event kind": func() *usage.Report { r := sample(1, nil); r.Products[0].Events[0].Kind = "nope"; return r }(),
		"product event kind twice": func() *usage.Report {
			r := sample(1, nil)
			r.Products[0].Events = append(r.Products[0].Events, r.Products[0].Events[0])
			return r
		}(),
		"product event counted 0": func() *usage.Report { r := sample(1, nil); r.Products[0].Events[0].Count = 0; return r }(),
		"control character":       func() *usage.Report { r := sample(1, nil); r.Products[0].Holders[0].Host = "a\nb"; return r }(),
	} {
		if _, err := usage.Sign(testkeys.Identity(crypto.RoleInstallation, "server"), r); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	if _, err := usage.Sign(testkeys.Identity(crypto.RoleVendor, "vendor"), sample(1, nil)); err == nil {
		t.Error("signed by a vendor key")
	}
}

func TestCheckChain(t *testing.T) {
	r1 := sign(t, sample(1, nil))
	r2 := sign(t, sample(2, r1.Hash[:]))
	r3 := sign(t, sample(3, r2.Hash[:]))
	r4 := sign(t, sample(4, r3.Hash[:]))
	clone2 := func() *usage.Signed { r := sample(2, r1.Hash[:]); r.Products[0].Usage.Peak = 1; return sign(t, r) }()
	clone3 := sign(t, sample(3, clone2.Hash[:]))
	l := usage.LinkOf
	for _, tc := range []struct {
		name  string
		prior []*usage.Signed
		r     *usage.Signed
		flag  string
	}{
		{"first", nil, r1, ""},
		{"next", []*usage.Signed{r1}, r2, ""},
		{"first imported is 3", nil, r3, usage.FlagGap},
		{"skips 3", []*usage.Signed{r1, r2}, r4, usage.FlagGap},
		{"fills the gap", []*usage.Signed{r1, r2, r4}, r3, ""},
		{"the same again", []*usage.Signed{r1, r2}, r2, usage.FlagRepeated},
		{"another 2", []*usage.Signed{r1, r2}, clone2, usage.FlagCloned},
		{"a 3 after the clone's 2", []*usage.Signed{r1, r2}, clone3, usage.FlagCloned},
		{"a 2 the imported 3 does not follow", []*usage.Signed{r1, clone3}, r2, usage.FlagCloned},
	} {
		var prior []usage.Link
		for _, p := range tc.prior {
			prior = append(prior, l(p))
		}
		flag, msg := usage.CheckChain(prior, l(tc.r))
		if flag != tc.flag || (flag != "" && msg == "") {
			t.Errorf("%s: got %q (%s), want %q", tc.name, flag, msg, tc.flag)
		}
	}
}

func FuzzVerify(f *testing.F) {
	r1 := sign(f, sample(1, nil))
	_, seeds := vectors.Seeds(f)
	seeds = append(seeds, r1.Bytes, sign(f, sample(2, r1.Hash[:])).Bytes, sign(f, &usage.Report{Seq: 1, From: 1, To: 1}).Bytes)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := usage.Verify(data)
		if err != nil {
			var re *result.Error
			if !errors.As(err, &re) || (re.Code != result.Malformed && re.Code != result.SignatureInvalid) {
				t.Fatalf("untyped or unexpected error: %v", err)
			}
			return
		}
		payload, _ := wire.Marshal(s.Report)
		sig, _ := crypto.ParseSigned(data)
		if !bytes.Equal(payload, sig.Payload) {
			t.Fatal("parse -> encode did not give the same bytes")
		}
	})
}
