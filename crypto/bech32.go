package crypto

import "strings"

// This file holds the small part of BIP 173 (bech32) that airlock needs to
// turn raw X25519 keys, which travel in messages as 32 bytes, into age's
// "age1…" and "AGE-SECRET-KEY-1…" strings. age keeps its own encoder
// internal; age's parsers validate every string made here, and the tests
// check the recipient strings against age's own.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var bech32Gen = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

func bech32Polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>uint(i))&1 == 1 {
				chk ^= bech32Gen[i]
			}
		}
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, len(hrp)*2+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// convertBits regroups data from 'from'-bit to 'to'-bit groups, padding
// the last group with zero bits.
func convertBits(data []byte, from, to uint) []byte {
	var acc uint32
	var bits uint
	var out []byte
	maxv := uint32(1)<<to - 1
	for _, b := range data {
		acc = acc<<from | uint32(b)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if bits > 0 {
		out = append(out, byte(acc<<(to-bits)&maxv))
	}
	return out
}

// bech32Encode encodes data under the lower-case human-readable part hrp.
func bech32Encode(hrp string, data []byte) string {
	values := convertBits(data, 8, 5)
	exp := append(bech32HRPExpand(hrp), values...)
	exp = append(exp, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(exp) ^ 1
	var b strings.Builder
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(bech32Charset[v])
	}
	for i := 0; i < 6; i++ {
		b.WriteByte(bech32Charset[(mod>>uint(5*(5-i)))&31])
	}
	return b.String()
}
