package usage

import (
	"fmt"
	"sort"
)

// Flags the desk sets on a report whose place in its server's chain is
// wrong. They are stable: scripts test them. A flagged report is stored
// all the same (nothing is lost); the flag says what to look into.
const (
	// FlagGap: reports before this one never arrived (a skipped
	// sequence number).
	FlagGap = "report_sequence_gap"
	// FlagRepeated: this very report was imported before.
	FlagRepeated = "report_repeated"
	// FlagCloned: the server's chain diverges: two different reports
	// with one number, or a report that does not follow the one before.
	// A copy of the server's state runs beside it (or its database was
	// restored from a backup).
	FlagCloned = "report_cloned"
)

// Link is a report already imported, as the chain check sees it.
type Link struct {
	Seq  uint64
	Hash [32]byte
	Prev [32]byte
}

// LinkOf is the chain link of a signed report.
func LinkOf(s *Signed) Link {
	return Link{Seq: s.Report.Seq, Hash: s.Hash, Prev: [32]byte(s.Report.Prev)}
}

// CheckChain places a report (link r) among the reports already imported
// from the same server key, and returns "" or the flag it deserves, with a
// message that says what happened and what to do.
func CheckChain(prior []Link, r Link) (flag, message string) {
	sorted := append([]Link(nil), prior...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	var last *Link
	bySeq := map[uint64]Link{}
	for i := range sorted {
		l := sorted[i]
		if l.Hash == r.Hash {
			return FlagRepeated, fmt.Sprintf("report %d of this server was imported already (the same report again)", r.Seq)
		}
		if _, dup := bySeq[l.Seq]; !dup {
			bySeq[l.Seq] = l
		}
		last = &sorted[i]
	}
	if other, ok := bySeq[r.Seq]; ok && other.Hash != r.Hash {
		return FlagCloned, fmt.Sprintf("this server has made two different reports numbered %d: a copy of its state (or a restored backup) is running beside it", r.Seq)
	}
	if before, ok := bySeq[r.Seq-1]; ok && r.Seq > 1 && before.Hash != r.Prev {
		return FlagCloned, fmt.Sprintf("report %d does not follow the report %d imported earlier: the server's chain diverges (a copy of its state, or a restored backup, made one of them)", r.Seq, r.Seq-1)
	}
	if after, ok := bySeq[r.Seq+1]; ok && after.Prev != r.Hash {
		return FlagCloned, fmt.Sprintf("the report %d imported earlier does not follow this report %d: the server's chain diverges (a copy of its state, or a restored backup, made one of them)", r.Seq+1, r.Seq)
	}
	switch {
	case last == nil && r.Seq > 1:
		return FlagGap, fmt.Sprintf("this is the first report imported from this server, and it is number %d: reports 1 to %d never arrived; ask for them", r.Seq, r.Seq-1)
	case last != nil && r.Seq > last.Seq+1:
		return FlagGap, fmt.Sprintf("reports %d to %d of this server never arrived (this one is %d): ask for them", last.Seq+1, r.Seq-1, r.Seq)
	}
	return "", ""
}
