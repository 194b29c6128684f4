//go:build !windows

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyReload delivers SIGHUP (reload the pool licenses) on c.
func notifyReload(c chan os.Signal) { signal.Notify(c, syscall.SIGHUP) }
