package cardemu

import (
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge what arrives at once. vpcd sends each
// frame's length and body in two writes; with the card's ACK delayed (up to
// 40 ms) Nagle holds the body back, and every APDU waits for the timer.
// TCP_QUICKACK is not sticky, so it is set again before every read.
func quickAck(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, 12 /* TCP_QUICKACK */, 1)
	})
}
