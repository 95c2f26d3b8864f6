package results

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestMaskDSN(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"postgres URL with password",
			"postgres://lrsgd:s3cret@db.example:5432/lab?sslmode=disable",
			"postgres://lrsgd:xxxxx@db.example:5432/lab?sslmode=disable"},
		{"postgresql URL with password",
			"postgresql://u:p4ssw0rd@localhost/lab",
			"postgresql://u:xxxxx@localhost/lab"},
		{"URL password with @ and / in it",
			"postgres://u:a@b/c@host:5432/db",
			"postgres://u:xxxxx@host:5432/db"},
		{"URL password in the query",
			"postgres://u@host/db?sslmode=disable&password=s3cret",
			"postgres://u@host/db?sslmode=disable&password=xxxxx"},
		{"URL user without password", "postgres://lrsgd@localhost/lab", "postgres://lrsgd@localhost/lab"},
		{"URL without user info", "postgres://localhost:5432/lab", "postgres://localhost:5432/lab"},
		{"key=value password",
			"host=localhost port=5432 user=lrsgd password=s3cret dbname=lab sslmode=disable",
			"host=localhost port=5432 user=lrsgd password=xxxxx dbname=lab sslmode=disable"},
		{"key=value quoted password with spaces",
			"host=localhost password='sec ret\\' x' dbname=lab",
			"host=localhost password=xxxxx dbname=lab"},
		{"key = value with spaces", "host=h password = s3cret user=u", "host=h password = xxxxx user=u"},
		{"key=value without password", "host=localhost user=lrsgd dbname=lab", "host=localhost user=lrsgd dbname=lab"},
		{"empty quoted password left alone", "host=localhost password='' dbname=lab", "host=localhost password='' dbname=lab"},
		{"empty password at the end left alone", "host=localhost password=", "host=localhost password="},
		// libpq skips blanks after '=', so here the password is "dbname=lab".
		{"blank after = masks the next word as libpq reads it", "host=localhost password= dbname=lab", "host=localhost password= xxxxx"},
		{"sqlite plain path", "results/lrsgd.db", "results/lrsgd.db"},
		{"sqlite URL", "sqlite:///tmp/lab.db", "sqlite:///tmp/lab.db"},
		{"sqlite file URI with params", "file:lab.db?_busy_timeout=5000&_txlock=immediate", "file:lab.db?_busy_timeout=5000&_txlock=immediate"},
		{"sqlite file URI with auth password", "file:lab.db?_auth&_auth_user=admin&_auth_pass=s3cret", "file:lab.db?_auth&_auth_user=admin&_auth_pass=xxxxx"},
		{"DSN inside a sentence",
			`open store "postgres://u:s3cret@h/db": dial tcp: refused`,
			`open store "postgres://u:xxxxx@h/db": dial tcp: refused`},
		{"URL password with ? in it", "mysql://u:p?w@h/db", "mysql://u:xxxxx@h/db"},
		{"URL password with # in it", "postgres://u:p#w@h/db?sslmode=disable", "postgres://u:xxxxx@h/db?sslmode=disable"},
		{"URL password with a blank in it", "postgres://u:p w@h/db", "postgres://u:xxxxx@h/db"},
		{"URL password with a quote in it", `mysql://u:p"w@h/db`, "mysql://u:xxxxx@h/db"},
		{"quoted URL with a quote in the password", `open store "mysql://u:p\"w@h/db": unsupported`, `open store "mysql://u:xxxxx@h/db": unsupported`},
		{"one-letter URL password", "mysql://u:a@h/db", "mysql://u:xxxxx@h/db"},
		{"URL empty password", "postgres://u:@h/db", "postgres://u:@h/db"},
		{"host and port, then an address", "dial postgres://h:5432/db failed for a@b", "dial postgres://h:5432/db failed for a@b"},
		{"host and port without path, then an address", "postgres://h:5432 refused by x@y", "postgres://h:5432 refused by x@y"},
		{"two URLs", "from postgres://u:one@h/a to postgres://v:two@k/b", "from postgres://u:xxxxx@h/a to postgres://v:xxxxx@k/b"},
		{"one-letter key=value password", "host=h password=a user=u", "host=h password=xxxxx user=u"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskDSN(tt.in); got != tt.want {
				t.Errorf("MaskDSN(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		dsn  string
		want Kind
	}{
		{"postgres://u@h/db", KindPostgres},
		{"POSTGRESQL://u@h/db", KindPostgres},
		{"host=localhost dbname=x", KindPostgres},
		{"lrsgd.db", KindSQLite},
		{"sqlite://lab.db", KindSQLite},
		{"file:lab.db?mode=rwc", KindSQLite},
	} {
		if got := KindOf(c.dsn); got != c.want {
			t.Errorf("KindOf(%q) = %s, want %s", c.dsn, got, c.want)
		}
	}
}

func TestResolveDSN(t *testing.T) {
	t.Setenv(EnvStorage, "")
	if got := ResolveDSN(""); got != DefaultSQLiteFile {
		t.Errorf("ResolveDSN(\"\") without env = %q, want %q", got, DefaultSQLiteFile)
	}
	t.Setenv(EnvStorage, "postgres://u@h/db")
	if got := ResolveDSN(""); got != "postgres://u@h/db" {
		t.Errorf("ResolveDSN(\"\") with env = %q", got)
	}
	if got := ResolveDSN("x.db"); got != "x.db" {
		t.Errorf("ResolveDSN(x.db) = %q; an explicit DSN must win over the env", got)
	}
}

func TestSQLiteDSN(t *testing.T) {
	tests := []struct{ in, want, path string }{
		{"lab.db", "lab.db?_journal_mode=WAL&_txlock=immediate&_busy_timeout=30000", "lab.db"},
		{"sqlite:///tmp/lab.db", "/tmp/lab.db?_journal_mode=WAL&_txlock=immediate&_busy_timeout=30000", "/tmp/lab.db"},
		{"sqlite://rel/lab.db", "rel/lab.db?_journal_mode=WAL&_txlock=immediate&_busy_timeout=30000", "rel/lab.db"},
		{"file:lab.db?mode=rwc", "file:lab.db?mode=rwc&_journal_mode=WAL&_txlock=immediate&_busy_timeout=30000", "lab.db"},
		{"lab.db?_timeout=5&_journal=DELETE", "lab.db?_timeout=5&_journal=DELETE&_txlock=immediate", "lab.db"},
		{"lab.db?_txlock=exclusive&_busy_timeout=1&_journal_mode=WAL", "lab.db?_txlock=exclusive&_busy_timeout=1&_journal_mode=WAL", "lab.db"},
	}
	for _, tt := range tests {
		got, path, err := sqliteDSN(tt.in)
		if err != nil || got != tt.want || path != tt.path {
			t.Errorf("sqliteDSN(%q) = %q, %q, %v; want %q, %q", tt.in, got, path, err, tt.want, tt.path)
		}
	}
	if _, _, err := sqliteDSN("sqlite://"); err == nil {
		t.Error("sqliteDSN(sqlite://) succeeded; want an error for the empty path")
	}
}

func TestMaskError(t *testing.T) {
	secrets := passwords("postgres://u:p%40ssw0rd@h/db")
	err := errors.New("auth failed for p@ssw0rd and p%40ssw0rd")
	got := maskError(err, secrets)
	if strings.Contains(got.Error(), "ssw0rd") {
		t.Errorf("masked error %q still holds the password", got)
	}
	if !errors.Is(got, err) {
		t.Error("masked error does not answer errors.Is for the original")
	}
	if errors.Unwrap(got) != nil {
		t.Error("masked error unwraps to the unmasked one")
	}
	if maskError(nil, secrets) != nil {
		t.Error("maskError(nil) != nil")
	}
}

// TestMaskErrorEveryForm: a password of any length is scrubbed from an
// error in every form a message may quote it: inside the DSN, alone,
// URL-decoded, escaped by %q, and in a cleaned path; a short one only
// where it stands on its own.
func TestMaskErrorEveryForm(t *testing.T) {
	tests := []struct{ name, dsn, msg, want string }{
		{"1 letter, in the DSN", "mysql://u:a@h/db", "open mysql://u:a@h/db: unsupported", "open mysql://u:xxxxx@h/db: unsupported"},
		{"2 letters, in a cleaned path", "mysql://u:pw@h/db", "folder mysql:/u:pw@h of SQLite file mysql://u:pw@h/db", "folder mysql:/u:xxxxx@h of SQLite file mysql://u:xxxxx@h/db"},
		{"2 letters, alone", "postgres://u:pw@h/db", "auth failed: pw rejected (pwd, upw)", "auth failed: xxxxx rejected (pwd, upw)"},
		{"3 characters, %q", `mysql://u:a"b@h/db`, `store "mysql://u:a\"b@h/db"`, `store "mysql://u:xxxxx@h/db"`},
		{"3 digits, alone", "postgres://u:123@h/db", "code 1234: 123 refused", "code 1234: xxxxx refused"},
		{"4 letters, inside a word", "postgres://u:abcd@h/db", "xabcdx", "xxxxxxx"},
		{"URL-decoded", "postgres://u:p%40@h/db", "user u, password p@", "user u, password xxxxx"},
		{"with ? in it, in a cleaned path", "mysql://u:p?w@h/db", "stat mysql:/u:p?w@h: no such file", "stat mysql:/u:xxxxx@h: no such file"},
		{"with a blank in it, alone", "postgres://u:p w@h/db", "bad password p w", "bad password xxxxx"},
		{"key=value, quoted with escapes", `host=h password='it\'s' user=u`, "password it's refused", "password xxxxx refused"},
		{"key=value, 2 letters", "host=h password=pw user=u", "server said pw: no", "server said xxxxx: no"},
		{"sqlite _auth_pass", "file:lab.db?_auth&_auth_user=admin&_auth_pass=s3", "auth s3 failed", "auth xxxxx failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := maskError(errors.New(tt.msg), passwords(tt.dsn))
			if got.Error() != tt.want {
				t.Errorf("maskError(%q) with the passwords of %q = %q, want %q", tt.msg, tt.dsn, got, tt.want)
			}
		})
	}
}

// TestCheckDSNShortPasswords: the errors of CheckDSN for DSNs it refuses
// hold no password, whatever its length or characters.
func TestCheckDSNShortPasswords(t *testing.T) {
	for _, pw := range []string{"a", "pw", "p?w", "p#w", "p w", `p"w`, "p@ss/w0rd"} {
		dsn := "mysql://u:" + pw + "@h/db"
		err := CheckDSN(dsn)
		if err == nil {
			t.Fatalf("CheckDSN(%q) succeeded, want a refusal", dsn)
		}
		msg := err.Error()
		if strings.Contains(msg, ":"+pw+"@") || strings.Contains(msg, " "+pw+" ") || strings.Contains(msg, strconv.Quote(pw)[1:len(strconv.Quote(pw))-1]+"@") {
			t.Errorf("CheckDSN(%q) = %q: the password shows", dsn, msg)
		}
		if !strings.Contains(msg, "mysql://u:xxxxx@h/db") {
			t.Errorf("CheckDSN(%q) = %q, want it to name the masked DSN", dsn, msg)
		}
	}
}
