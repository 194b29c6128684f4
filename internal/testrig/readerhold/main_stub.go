//go:build !cgo && !windows

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "readerhold: built without PC/SC support (cgo); rebuild with CGO_ENABLED=1")
	os.Exit(1)
}
