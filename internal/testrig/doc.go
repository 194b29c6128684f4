// Package testrig holds nothing itself: its subpackages are the test rigs,
// kept apart from the runtime helpers under internal/ so that no binary
// links them.
//
//   - cardemu: a virtual OpenPGP/PIV card (YubiKey-like) that plugs into
//     pcscd through vpcd, for the hardware-key tests.
//   - testkeys: deterministic identities and randomness (their keys are
//     public).
//   - qrphoto: a generator of phone photos of QR codes (scale, rotation,
//     perspective, blur, noise, JPEG) and the comparison with zbarimg and
//     ZXingReader.
//   - vectors: the reader of the test vectors in testdata/vectors.
package testrig
