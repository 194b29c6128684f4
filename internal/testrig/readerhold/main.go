//go:build cgo || windows

// Command readerhold is a test rig: "another program holding the smart
// card reader". It connects to the card in a reader exclusively (as gpg's
// scdaemon often does), prints "held" and keeps the card until its
// standard input closes or it is killed.
//
//	readerhold "Virtual PCD 00 00"
//
// It needs PC/SC, as package dongle: cgo (or Windows).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ebfe/scard"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: readerhold READER")
		os.Exit(2)
	}
	ctx, err := scard.EstablishContext()
	if err != nil {
		fmt.Fprintln(os.Stderr, "readerhold:", err)
		os.Exit(1)
	}
	defer ctx.Release()
	card, err := ctx.Connect(os.Args[1], scard.ShareExclusive, scard.ProtocolAny)
	if err != nil {
		fmt.Fprintln(os.Stderr, "readerhold:", err)
		os.Exit(1)
	}
	defer card.Disconnect(scard.LeaveCard)
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
