package results

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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
// password='sec ret', _auth_pass=secret). Passwords of any length and
// holding any character are masked, also a URL password with '?', '#', a
// blank or a quote in it, which a URL parser would take for the end of the
// user info. Anything else is returned unchanged, so it is safe to apply
// to any string.
func MaskDSN(dsn string) string {
	var b strings.Builder
	last := 0
	for _, sp := range userinfoPasswords(dsn) {
		b.WriteString(dsn[last:sp[0]])
		b.WriteString(Mask)
		last = sp[1]
	}
	b.WriteString(dsn[last:])
	return secretKV.ReplaceAllStringFunc(b.String(), func(m string) string {
		sub := secretKV.FindStringSubmatch(m)
		if sub[2] == "" || sub[2] == "''" {
			return m
		}
		return sub[1] + Mask
	})
}

// userinfoPasswords returns the [start, end) byte spans of the passwords
// of every scheme://user:password@ in s.
//
// The user info runs to the last '@' of the word that follows the scheme
// (a word ends at a blank or a double quote), so a password holding '@',
// '/', '?' or '#' is found whole. If that word has no '@' but holds a
// ':' that does not start a port or a path ("u:p" of "u:p w@h"), the
// password may hold blanks or quotes: the following words on the line are
// searched too, up to the next scheme.
func userinfoPasswords(s string) [][2]int {
	var spans [][2]int
	for off := 0; ; {
		loc := urlScheme.FindStringIndex(s[off:])
		if loc == nil {
			return spans
		}
		start := off + loc[1] // the user info, if any, starts here
		off = start
		rest := s[start:]
		limit := len(rest) // the user info does not run past the line or the next URL
		if i := strings.IndexAny(rest, "\n\r"); i >= 0 {
			limit = i
		}
		if loc := urlScheme.FindStringIndex(rest[:limit]); loc != nil {
			limit = loc[0]
		}
		word := limit
		if i := strings.IndexAny(rest[:limit], " \t\""); i >= 0 {
			word = i
		}
		at := strings.LastIndex(rest[:word], "@")
		if at < 0 && mayHoldBlanks(rest[:word]) {
			// The first '@' after the word: the shortest user info.
			if i := strings.Index(rest[word:limit], "@"); i >= 0 {
				at = word + i
			}
		}
		if at < 0 {
			continue
		}
		colon := strings.Index(rest[:at], ":")
		if colon < 0 || colon+1 == at {
			off = start + at + 1
			continue // no password, or an empty one
		}
		spans = append(spans, [2]int{start + colon + 1, start + at})
		off = start + at + 1
	}
}

// mayHoldBlanks reports whether word, the text after a scheme up to the
// first blank, could be "user:start of a password" rather than a host
// with a port or a path.
func mayHoldBlanks(word string) bool {
	_, after, ok := strings.Cut(word, ":")
	if !ok || strings.Contains(after, "/") {
		return false
	}
	return strings.TrimLeft(after, "0123456789") != ""
}

// passwords returns the passwords a DSN holds, in every form in which an
// error message may quote them: raw, URL-decoded, with libpq's quoting
// undone, and escaped as Go's %q writes it. maskError scrubs them.
func passwords(dsn string) []string {
	var out []string
	add := func(p string) {
		if p == "" || slices.Contains(out, p) {
			return
		}
		out = append(out, p)
	}
	addForms := func(p string) {
		forms := []string{p}
		if dec, err := url.PathUnescape(p); err == nil {
			forms = append(forms, dec)
		}
		if dec, err := url.QueryUnescape(p); err == nil {
			forms = append(forms, dec)
		}
		for _, f := range forms {
			add(f)
			if q := strconv.Quote(f); len(q) > 2 {
				add(q[1 : len(q)-1])
			}
		}
	}
	for _, sp := range userinfoPasswords(dsn) {
		addForms(dsn[sp[0]:sp[1]])
	}
	for _, m := range secretKV.FindAllStringSubmatch(dsn, -1) {
		v := m[2]
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			add(v)              // as written, quotes and all
			v = v[1 : len(v)-1] // the quoted text, escapes and all
			add(v)
			v = strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(v) // as libpq reads it
		}
		addForms(v)
	}
	// Longer first, so that a password is replaced before a shorter form
	// inside it.
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// minScrub is the length from which maskError replaces a password
// wherever it occurs. A shorter one is replaced only where it stands on
// its own, not inside a longer run of letters and digits, so that a
// two-letter password does not scrub every word that holds those letters;
// such a password may still hide a word of its own in the message ("a").
const minScrub = 4

// scrub replaces secret in msg by Mask (see minScrub).
func scrub(msg, secret string) string {
	if len(secret) >= minScrub {
		return strings.ReplaceAll(msg, secret, Mask)
	}
	first, _ := utf8.DecodeRuneInString(secret)
	last, _ := utf8.DecodeLastRuneInString(secret)
	var b strings.Builder
	for {
		i := strings.Index(msg, secret)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		j := i + len(secret)
		before, _ := utf8.DecodeLastRuneInString(msg[:i])
		after, _ := utf8.DecodeRuneInString(msg[j:])
		b.WriteString(msg[:i])
		if isWordRune(first) && i > 0 && isWordRune(before) || isWordRune(last) && j < len(msg) && isWordRune(after) {
			b.WriteString(secret) // part of a longer word
		} else {
			b.WriteString(Mask)
		}
		msg = msg[j:]
	}
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

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

// maskError returns err with its message scrubbed of the given passwords
// (as passwords returns them; see minScrub for short ones) and of anything
// that looks like a DSN password; nil stays nil.
func maskError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, p := range secrets {
		msg = scrub(msg, p)
	}
	msg = MaskDSN(msg)
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
