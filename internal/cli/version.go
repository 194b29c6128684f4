package cli

import (
	"fmt"
	"runtime/debug"
)

// Version is the release version; the build sets it with
// -ldflags "-X github.com/airlock-offline/airlock/internal/cli.Version=v1.2.3".
// Empty means: ask the build information (module version, VCS revision).
var Version string

// VersionLine is what --version prints: the program, its version and, when
// the build recorded them, the VCS revision, its time and whether the tree
// had local changes, and the Go version.
func VersionLine(prog string) string {
	version, rev, at, dirty, goVersion := Version, "", "", false, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if version == "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	line := prog + " " + version
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		line += " (" + rev
		if dirty {
			line += "+changes"
		}
		if at != "" {
			line += ", " + at
		}
		line += ")"
	}
	if goVersion != "" {
		line += fmt.Sprintf(" %s", goVersion)
	}
	return line
}
