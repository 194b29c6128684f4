package cardemu

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// slotWait bounds how long Insert waits for a slot another card holds.
const slotWait = time.Minute

// slotLockPath names the lock file of the vpcd slot at addr after its port,
// so "127.0.0.1:35963" and "localhost:35963" share it.
func slotLockPath(addr string) string {
	key := addr
	if _, port, err := net.SplitHostPort(addr); err == nil {
		key = port
	}
	key = strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, key)
	return filepath.Join(os.TempDir(), "cardemu-vpcd-"+key+".lock")
}
