package results

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
)

// Transient reports whether err, from a store operation, says the store
// could not be reached or was busy rather than that the operation was
// wrong: a lost or refused connection, a PostgreSQL server shutting down
// or restarting (SQLSTATE class 08, 57P01–57P03, 53300 too many
// connections), a SQLite database that stayed locked past its busy
// timeout. Such an operation may succeed if it is tried again later;
// others would fail again the same way.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var m *maskedError
	if errors.As(err, &m) {
		err = m.orig
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var liteErr sqlite3.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.As(err, &liteErr):
		return liteErr.Code == sqlite3.ErrBusy || liteErr.Code == sqlite3.ErrLocked
	}
	// pgx reports a connection closed under it by a restarting server in
	// words only.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset by peer") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection refused")
}
