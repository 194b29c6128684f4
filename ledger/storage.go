package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// Errors about the ledger's storage: what is there, whether it is whole,
// and whether it can be written. Test for them with [errors.Is].
var (
	// ErrMissing: no ledger file at the path (and Create was not asked).
	ErrMissing = errors.New("ledger: no ledger file there")
	// ErrEmpty: the file (or the PostgreSQL schema) is empty, so it
	// holds no ledger (and Create was not asked).
	ErrEmpty = errors.New("ledger: the ledger file is empty")
	// ErrDamaged: the ledger failed an integrity check; see
	// [*IntegrityError].
	ErrDamaged = errors.New("ledger: the ledger is damaged")
	// ErrWALMissing: the SQLite file's write-ahead log (the -wal file
	// beside it) is gone while its -shm file shows that the log held
	// committed transactions not yet copied into the file: opening it
	// would silently lose them.
	ErrWALMissing = errors.New("ledger: the ledger's write-ahead log (its -wal file) is missing: committed activations in it would be lost")
	// ErrReadOnly: a write on read-only storage (a read-only mount or
	// file, a PostgreSQL role or server that takes reads only), or on a
	// ledger opened with Options.ReadOnly.
	ErrReadOnly = errors.New("ledger: the ledger is on read-only storage")
	// ErrDiskFull: the disk (or the PostgreSQL server's disk) is full.
	ErrDiskFull = errors.New("ledger: disk full")
)

// errReadOnlyOpen is a write on a Ledger opened with Options.ReadOnly.
var errReadOnlyOpen = fmt.Errorf("%w (opened for reading only)", ErrReadOnly)

// IntegrityError is a ledger that failed an integrity check. Problems are
// SQLite's (or the ledger's own) descriptions: page and row numbers, index
// and table names, never stored data.
type IntegrityError struct {
	Problems []string
}

func (e *IntegrityError) Error() string {
	msg := "ledger: the ledger is damaged"
	if len(e.Problems) > 0 {
		msg += ": " + e.Problems[0]
	}
	if len(e.Problems) > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", len(e.Problems)-1)
	}
	return msg
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *IntegrityError) Is(target error) bool { return target == ErrDamaged }

// storageFailure is a database error that says what is wrong with the
// storage: read-only, full. Its message is the sentinel's alone, without
// the driver's error number; Unwrap still reaches the driver's error.
type storageFailure struct {
	kind error
	err  error
}

func (e *storageFailure) Error() string        { return e.kind.Error() }
func (e *storageFailure) Unwrap() []error      { return []error{e.kind, e.err} }
func (e *storageFailure) Is(target error) bool { return target == e.kind }

// SQLite's primary result codes that classify looks at.
const (
	sqliteCorrupt  = 11
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteNotADB   = 26
)

// classify turns a database error about storage into one that says what
// is wrong in words (ErrReadOnly, ErrDiskFull, ErrDamaged, ErrNotLedger);
// any other error is returned unchanged.
func (d *sqlDB) classify(err error) error {
	if err == nil {
		return nil
	}
	var sf *storageFailure
	var ie *IntegrityError
	if errors.As(err, &sf) || errors.As(err, &ie) || errors.Is(err, ErrNotLedger) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteReadOnly:
			return &storageFailure{ErrReadOnly, err}
		case sqliteFull:
			return &storageFailure{ErrDiskFull, err}
		case sqliteCorrupt:
			return &IntegrityError{Problems: []string{"SQLite finds the database disk image malformed"}}
		case sqliteNotADB:
			return fmt.Errorf("%w (not a SQLite database)", ErrNotLedger)
		case sqliteIOErr, sqliteCantOpen:
			// SQLite does not say why; the file system does.
			if d.path != "" {
				switch dir := filepath.Dir(d.path); {
				case diskFull(dir):
					return &storageFailure{ErrDiskFull, err}
				case readOnlyStorage(d.path):
					return &storageFailure{ErrReadOnly, err}
				}
			}
		}
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "25006": // read_only_sql_transaction: a standby, or a read-only role default
			return &storageFailure{ErrReadOnly, err}
		case "53100": // disk_full
			return &storageFailure{ErrDiskFull, err}
		}
	}
	return err
}

// storageError classifies an error of the file system about the ledger
// file at abs.
func storageError(abs string, err error) error {
	return (&sqlDB{path: abs}).classify(err)
}

// openCheck is the check of a ledger opened for writing: SQLite's
// integrity_check (every page, every b-tree, every record well formed, and
// every index against its table, which quick_check leaves out: a damaged
// index of active seats would let an installation take a second seat),
// then that each license's seat counter agrees with its active
// activations. On the pure-Go SQLite it costs about as much as
// quick_check alone (make bench: BenchmarkOpenCheck).
func (l *Ledger) openCheck(ctx context.Context) error {
	problems, err := l.pragmaCheck(ctx, "integrity_check")
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		problems, err = l.seatCheck(ctx)
		if err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		return &IntegrityError{Problems: problems}
	}
	return nil
}

// pragmaCheck runs PRAGMA quick_check or integrity_check and returns its
// problems (none: ok), at most 100.
func (l *Ledger) pragmaCheck(ctx context.Context, pragma string) ([]string, error) {
	rows, err := l.db.raw.QueryContext(ctx, "PRAGMA "+pragma+"(100)")
	if err != nil {
		return nil, l.db.classify(fmt.Errorf("ledger: %s failed: %w", pragma, err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("ledger: %s failed: %w", pragma, err)
		}
		if p != "ok" {
			problems = append(problems, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, l.db.classify(fmt.Errorf("ledger: %s failed: %w", pragma, err))
	}
	return problems, nil
}

// seatCheck checks the seat counters against the activations.
func (l *Ledger) seatCheck(ctx context.Context) ([]string, error) {
	var counters int64
	err := l.db.raw.QueryRowContext(ctx, `
		SELECT count(*) FROM licenses AS l
		WHERE l.seats_used != (SELECT count(*) FROM activations AS a
			WHERE a.license_key = l.key AND a.released = 0)`).Scan(&counters)
	if err != nil {
		return nil, l.db.classify(fmt.Errorf("ledger: the seat check failed: %w", err))
	}
	if counters > 0 {
		return []string{fmt.Sprintf("%d license(s) count another number of seats than their active activations", counters)}, nil
	}
	return nil, nil
}

// checkWAL refuses a SQLite ledger whose -wal file is gone (or cut short)
// while its -shm file, the WAL index that SQLite leaves behind after a
// crash, shows frames in it that were not yet copied into the database
// file. Without the -shm file there is nothing to tell from.
func checkWAL(abs string) error {
	f, err := os.Open(abs + "-shm")
	if err != nil {
		return nil
	}
	defer f.Close()
	var hdr [136]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil
	}
	// The WAL-index header (sqlite/src/wal.c), in native byte order, is
	// written twice (0..47, 48..95); a torn copy says nothing.
	if string(hdr[0:48]) != string(hdr[48:96]) {
		return nil
	}
	ne := binary.NativeEndian
	version, isInit := ne.Uint32(hdr[0:]), hdr[12]
	pageSize := uint64(ne.Uint16(hdr[14:]))
	pageSize = pageSize&0xfe00 + (pageSize&1)<<16
	mxFrame, nBackfill := ne.Uint32(hdr[16:]), ne.Uint32(hdr[96:])
	if version != 3007000 || isInit == 0 || pageSize == 0 || mxFrame <= nBackfill {
		return nil
	}
	need := 32 + int64(mxFrame)*(24+int64(pageSize))
	fi, err := os.Stat(abs + "-wal")
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() < need) {
		return ErrWALMissing
	}
	return nil
}

// hasWAL reports whether a write-ahead log with content is beside the
// SQLite file abs.
func hasWAL(abs string) bool {
	fi, err := os.Stat(abs + "-wal")
	return err == nil && fi.Size() > 0
}

// readOnlyStorage reports whether the ledger file abs, or its directory
// (where SQLite makes the -wal and -shm files), cannot be written.
func readOnlyStorage(abs string) bool {
	return !writable(abs) || !writable(filepath.Dir(abs))
}
