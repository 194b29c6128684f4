package main

import "os"

// notifyReload: Windows has no SIGHUP; use POST /api/v1/reload (the
// activate command does).
func notifyReload(chan os.Signal) {}
