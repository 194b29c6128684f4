package ledger

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// dialect is the SQL dialect of a backend. The queries of this package are
// written once, with ? placeholders; only the schema, the migrations and the
// locking differ between backends.
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

func (d dialect) String() string {
	if d == postgresDialect {
		return "postgres"
	}
	return "sqlite"
}

// rebind rewrites the ? placeholders of query for the dialect: SQLite takes
// them as they are, PostgreSQL wants $1, $2, … A ? inside a string literal, a
// quoted identifier or a comment is left alone.
func (d dialect) rebind(query string) string {
	if d != postgresDialect || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		case c == '\'' || c == '"':
			// Up to the closing quote; a doubled quote stays inside.
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
			continue
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j])
			i += j - 1
			continue
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+4])
			i += j + 3
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// sqlDB is the ledger's *sql.DB, for reads outside a write transaction. Its
// methods rebind queries for the backend; raw is for backend-specific code.
type sqlDB struct {
	raw *sql.DB
	dialect
	path string // the SQLite file, absolute; "" for PostgreSQL
}

func (d *sqlDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.raw.QueryRowContext(ctx, d.rebind(query), args...)
}

func (d *sqlDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.raw.QueryContext(ctx, d.rebind(query), args...)
}

func (d *sqlDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.raw.ExecContext(ctx, d.rebind(query), args...)
}

// sqlTx is a write transaction, as [sqlDB] is the database.
type sqlTx struct {
	raw *sql.Tx
	dialect
}

func (t *sqlTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.raw.QueryRowContext(ctx, t.rebind(query), args...)
}

func (t *sqlTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.raw.QueryContext(ctx, t.rebind(query), args...)
}

func (t *sqlTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.raw.ExecContext(ctx, t.rebind(query), args...)
}

// prepare prepares query for many executions in the transaction. Only
// SQLite needs it: pgx prepares every statement it runs, once per
// connection, and an explicit prepare would cost two more round trips to
// the server (prepare and deallocate) per transaction.
func (t *sqlTx) prepare(ctx context.Context, query string) (*stmt, error) {
	s := &stmt{tx: t, query: t.rebind(query)}
	if t.dialect == sqliteDialect {
		var err error
		if s.prepared, err = t.raw.PrepareContext(ctx, s.query); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// stmt is a statement of a write transaction, from [sqlTx.prepare].
type stmt struct {
	tx       *sqlTx
	query    string    // rebound
	prepared *sql.Stmt // nil on PostgreSQL
}

func (s *stmt) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	if s.prepared == nil {
		return s.tx.raw.QueryRowContext(ctx, s.query, args...)
	}
	return s.prepared.QueryRowContext(ctx, args...)
}

func (s *stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	if s.prepared == nil {
		return s.tx.raw.ExecContext(ctx, s.query, args...)
	}
	return s.prepared.ExecContext(ctx, args...)
}

func (s *stmt) Close() error {
	if s.prepared == nil {
		return nil
	}
	return s.prepared.Close()
}
