// Package ledger is the vendor desk's record of licenses and of the
// activations (seats) taken on them, kept in one SQLite file.
//
// The ledger does no cryptography and never prints. It stores what the desk
// tool hands it: license policy when a license is created, and for every
// license the desk releases, the activation that answers a request. Callers
// test its errors with [errors.Is]: [ErrNotFound], [ErrExists],
// [ErrTooManyMachines], [ErrSuspended], [ErrActivationExists], [ErrInvalid],
// [ErrSchemaTooNew], [ErrNotLedger] and [ErrCorrupt]. Error messages never
// contain license keys, confidential fields or other caller data.
//
// # Durability
//
// [Ledger.Record] commits the activation before it returns, and the desk
// must not release a license before Record has returned without error. The
// database runs in WAL mode with synchronous=FULL, so a committed activation
// has been fsynced and survives a crash or a power cut. [Ledger.RecordBatch]
// records many activations with one commit and one fsync, for batch signing.
//
// # Seats
//
// A seat is an active (not released) activation. An installation is
// identified by the pair of its Ed25519 public key and its machine
// fingerprint: a request from an installation that already holds a seat on
// the license reuses that seat (the stored row is refreshed, its ID kept),
// while a request from any other installation takes a new seat, and is
// refused with [ErrTooManyMachines] when none is free. A unique index on
// (license key, install key, fingerprint) over active rows keeps that true
// whatever the caller does. Each license row carries its count of active
// seats, kept by triggers on every change to activations, so that taking a
// seat costs the same on a license with ten thousand seats as on one with one.
//
// # Concurrency
//
// A [Ledger] is safe for concurrent use. Several processes may open the same
// file: every write runs in a BEGIN IMMEDIATE transaction, so two desks racing
// for the last seat are serialized by SQLite and exactly one of them gets it.
// A writer that finds the database locked by another process waits up to ten
// seconds (SQLite's busy_timeout) before it fails. Within one process, writes
// first queue on an in-process lock, for as long as their context allows, so
// they do not poll SQLite's lock against each other.
//
// # File format
//
// The file is an ordinary SQLite 3 database, application_id 0x41524C4B
// ("ARLK"), whose schema version is PRAGMA user_version ([SchemaVersion]).
// [Open] creates a missing file with mode 0600 (SQLite gives the -wal and
// -shm files the same mode), upgrades older schemas, and refuses a newer
// schema with [ErrSchemaTooNew] and a SQLite file that is not a ledger with
// [ErrNotLedger]. Times are stored as Unix nanoseconds in UTC (NULL where a
// time is absent) and maps as JSON text, so times must lie between the years
// 1678 and 2262.
//
// The package builds without cgo: it uses the pure-Go driver
// modernc.org/sqlite.
package ledger
