package results

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// EnvStorage names the environment variable that supplies the storage DSN
// when none is given explicitly.
const EnvStorage = "LRSGD_STORAGE"

// DefaultSQLiteFile is the store used when neither a DSN nor $LRSGD_STORAGE
// is given: a SQLite file in the working folder.
const DefaultSQLiteFile = "lrsgd.db"

// Mask is what a password is replaced by in masked DSNs and errors.
const Mask = "xxxxx"

// Kind is the database engine behind a store.
type Kind string

// The supported engines.
const (
	KindSQLite   Kind = "sqlite"
	KindPostgres Kind = "postgres"
)

// ResolveDSN returns the DSN Open will use for dsn: dsn itself when
// non-empty, else $LRSGD_STORAGE when set, else DefaultSQLiteFile.
func ResolveDSN(dsn string) string {
	if dsn != "" {
		return dsn
	}
	if env := os.Getenv(EnvStorage); env != "" {
		return env
	}
	return DefaultSQLiteFile
}

// KindOf tells which engine a (resolved) DSN addresses: "postgres://",
// "postgresql://" and libpq key=value strings starting with "host=" are
// PostgreSQL; everything else ("sqlite://path", "file:...", a plain path) is
// SQLite.
func KindOf(dsn string) Kind {
	l := strings.ToLower(strings.TrimSpace(dsn))
	switch {
	case strings.HasPrefix(l, "postgres://"), strings.HasPrefix(l, "postgresql://"), strings.HasPrefix(l, "host="):
		return KindPostgres
	default:
		return KindSQLite
	}
}

// sqliteDefaults are the connection parameters a SQLite DSN gets unless it
// names them (or an alias) itself. Measured: without _txlock=immediate two
// workers lose trials to "database is locked", because a deferred
// transaction that reads and then writes cannot wait for the write lock.
var sqliteDefaults = []struct {
	key     string
	aliases []string
	value   string
}{
	{"_journal_mode", []string{"_journal"}, "WAL"},
	{"_txlock", nil, "immediate"},
	{"_busy_timeout", []string{"_timeout"}, "30000"},
}

// sqliteDSN turns a SQLite DSN ("sqlite://path", "file:...", a plain path)
// into the form mattn/go-sqlite3 takes, with the concurrency defaults added
// unless the DSN sets them. It also returns the file path, for messages.
func sqliteDSN(dsn string) (driverDSN, path string, err error) {
	d := strings.TrimSpace(dsn)
	if strings.HasPrefix(strings.ToLower(d), "sqlite://") {
		d = d[len("sqlite://"):]
	}
	if d == "" {
		return "", "", errors.New("empty SQLite path")
	}
	base, query, _ := strings.Cut(d, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", "", err
	}
	path = strings.TrimPrefix(base, "file:")
	if path == "" {
		return "", "", errors.New("empty SQLite path")
	}
	var add []string
	for _, def := range sqliteDefaults {
		given := params.Has(def.key)
		for _, a := range def.aliases {
			given = given || params.Has(a)
		}
		if !given {
			add = append(add, def.key+"="+def.value)
		}
	}
	driverDSN = d
	if len(add) > 0 {
		sep := "?"
		if strings.Contains(d, "?") {
			sep = "&"
			if strings.HasSuffix(d, "?") || strings.HasSuffix(d, "&") {
				sep = ""
			}
		}
		driverDSN = d + sep + strings.Join(add, "&")
	}
	return driverDSN, path, nil
}

// postgresDSN adds connect_timeout=10 to a PostgreSQL DSN that has none, so
// an unreachable server fails within seconds rather than minutes.
func postgresDSN(dsn string) string {
	d := strings.TrimSpace(dsn)
	if strings.Contains(strings.ToLower(d), "connect_timeout") {
		return d
	}
	if strings.HasPrefix(strings.ToLower(d), "host=") {
		return d + " connect_timeout=10"
	}
	if strings.Contains(d, "?") {
		return d + "&connect_timeout=10"
	}
	return d + "?connect_timeout=10"
}

var (
	// urlScheme matches the start of a URL-form DSN.
	urlScheme = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://`)
	// secretKV matches password-like parameters in key=value strings and
	// URL queries: libpq's password, mattn's _auth_pass, and a few common
	// spellings. The value may be single-quoted (libpq) with \' escapes.
	secretKV = regexp.MustCompile(`(?i)((?:^|[\s?&;])(?:password|passwd|pwd|pass|_auth_pass)\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]*)`)
)

// MaskDSN returns dsn with every password replaced by "xxxxx": the password
// of URL user info (scheme://user:secret@host), and the values of password
// parameters in URL queries and libpq key=value strings (password=secret,
// password='sec ret', _auth_pass=secret). Anything else is returned
// unchanged, so it is safe to apply to any string.
func MaskDSN(dsn string) string {
	out := maskURLUserinfo(dsn)
	return secretKV.ReplaceAllStringFunc(out, func(m string) string {
		sub := secretKV.FindStringSubmatch(m)
		if sub[2] == "" || sub[2] == "''" {
			return m
		}
		return sub[1] + Mask
	})
}

// maskURLUserinfo masks the password in every scheme://user:pass@ in s.
// The user info runs to the last '@' before the query; a password holding an
// unescaped '@' or '/' is thus still masked whole.
func maskURLUserinfo(s string) string {
	var b strings.Builder
	for {
		loc := urlScheme.FindStringIndex(s)
		if loc == nil {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:loc[1]])
		rest := s[loc[1]:]
		end := len(rest)
		if i := strings.IndexAny(rest, "?# \t\n\""); i >= 0 {
			end = i
		}
		at := strings.LastIndex(rest[:end], "@")
		if at < 0 {
			s = rest
			continue
		}
		userinfo := rest[:at]
		if user, pass, ok := strings.Cut(userinfo, ":"); ok && pass != "" {
			b.WriteString(user + ":" + Mask + "@")
		} else {
			b.WriteString(userinfo + "@")
		}
		s = rest[at+1:]
	}
}

// passwords returns the passwords a DSN holds, raw and URL-decoded, so that
// error messages can be scrubbed of them wherever a driver echoes them.
func passwords(dsn string) []string {
	var out []string
	add := func(p string) {
		p = strings.Trim(p, "'")
		if len(p) < 4 { // shorter strings would scrub ordinary words
			return
		}
		out = append(out, p)
		if dec, err := url.PathUnescape(p); err == nil && dec != p {
			out = append(out, dec)
		}
		if dec, err := url.QueryUnescape(p); err == nil && dec != p {
			out = append(out, dec)
		}
	}
	if loc := urlScheme.FindStringIndex(dsn); loc != nil {
		rest := dsn[loc[1]:]
		end := len(rest)
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			end = i
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			if _, pass, ok := strings.Cut(rest[:at], ":"); ok {
				add(pass)
			}
		}
	}
	for _, m := range secretKV.FindAllStringSubmatch(dsn, -1) {
		add(m[2])
	}
	return out
}

// maskedError carries a driver error whose text has been scrubbed of
// passwords. It deliberately does not unwrap to the original error (whose
// text may hold the password) but still answers errors.Is for it, so
// callers can test for context.Canceled and the like.
type maskedError struct {
	msg  string
	orig error
}

func (e *maskedError) Error() string { return e.msg }

func (e *maskedError) Is(target error) bool { return errors.Is(e.orig, target) }

// maskError returns err with its message scrubbed of the given passwords and
// of anything that looks like a DSN password; nil stays nil.
func maskError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := MaskDSN(err.Error())
	for _, p := range secrets {
		msg = strings.ReplaceAll(msg, p, Mask)
	}
	if msg == err.Error() {
		return err
	}
	return &maskedError{msg: msg, orig: err}
}

// CheckDSN reports whether Open could open dsn ("" means $LRSGD_STORAGE,
// then the default file), without connecting or creating anything: the
// DSN parses and, for SQLite, the file's folder exists. A command calls it
// before long work whose result goes to the store. Errors never contain
// the DSN's password.
func CheckDSN(dsn string) error {
	dsn = ResolveDSN(dsn)
	if KindOf(dsn) == KindPostgres {
		return nil
	}
	secrets := passwords(dsn)
	_, path, err := sqliteDSN(dsn)
	if err == nil {
		err = checkSQLitePath(path)
	}
	if err != nil {
		return fmt.Errorf("store %q: %w", MaskDSN(dsn), maskError(err, secrets))
	}
	return nil
}
