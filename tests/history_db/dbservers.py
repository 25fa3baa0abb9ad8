"""Throwaway PostgreSQL and MariaDB servers for the history tests.

Each server lives in its own temporary directory, listens on a free loopback port (and a
UNIX socket in that directory), is started by the test itself (never as a system
service) and stopped afterwards. Debian's `postgresql` and `mariadb-server` packages
provide the binaries (`make db-servers` installs them). PostgreSQL refuses to run as
root, so under root its files belong to `nobody` and its commands run through `runuser`.

A test that cannot get a server FAILS when CI=true and is skipped otherwise.
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest

# A password that needs percent-encoding in a URL (SQLAlchemy decodes it; so do we).
PASSWORD = "p@ss:w/rd%41 x"
USER = "luigi"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable(why):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("database server unavailable in CI: " + why)
    pytest.skip(why)


def _poll(fn, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last error: %r)" % (what, last))


class Certs:
    """A throwaway CA and certificates signed by it, made with the openssl CLI in `dir`:
    `server(name, sans)` for a server (subjectAltName entries such as "IP:127.0.0.1"),
    `client(name, cn)` for a client. Each returns (certificate path, key path)."""

    def __init__(self, dir, ca_name="luigid-rs test CA"):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.ca_key = os.path.join(dir, "ca.key")
        self.ca = os.path.join(dir, "ca.crt")
        self._openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                       "-subj", "/CN=" + ca_name,
                       "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def _openssl(self, args):
        try:
            p = subprocess.run(["openssl"] + args, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            unavailable("the openssl command is not installed")
        if p.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], p.stderr[-2000:]))

    def _leaf(self, name, cn, ext):
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        crt = os.path.join(self.dir, name + ".crt")
        extfile = os.path.join(self.dir, name + ".ext")
        with open(extfile, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n" + ext)
        self._openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", key, "-out", csr, "-subj", "/CN=" + cn])
        self._openssl(["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                       "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", extfile])
        os.chmod(key, 0o600)
        return crt, key

    def server(self, name, sans):
        return self._leaf(name, name, "keyUsage=critical,digitalSignature\n"
                          "extendedKeyUsage=serverAuth\nsubjectAltName=" + ",".join(sans) + "\n")

    def client(self, name, cn):
        return self._leaf(name, cn, "keyUsage=critical,digitalSignature\n"
                          "extendedKeyUsage=clientAuth\n")


def _install(src, dst, owner=None):
    """Copy a certificate or key file where a server reads it (mode 0600, owned by
    `owner`'s uid when given)."""
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o600)
    if owner is not None:
        os.chown(dst, owner, -1)


class PgServer:
    engine = "postgresql"

    def __init__(self, tls=None, hba_first=()):
        """`tls`: (certificate, key, CA) files to serve TLS with (ssl=on); `hba_first`:
        pg_hba.conf lines matched before initdb's."""
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        if not bins:
            unavailable("PostgreSQL is not installed (make db-servers)")
        self.bindir = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="lrspg", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        os.chmod(self.dir, 0o755)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        if self.as_root:
            os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
        self._run(["initdb", "-D", self.data, "-U", USER, "--pwfile", pwfile,
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                   "--locale=C.UTF-8"], timeout=120)
        self.ssl_opts = ""
        if tls:
            self.set_tls(*tls)
            self.ssl_opts = " -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s -c ssl_ca_file=%s" % (
                self._tls_path("server.crt"), self._tls_path("server.key"), self._tls_path("ca.crt"))
        if hba_first:
            hba = os.path.join(self.data, "pg_hba.conf")
            with open(hba) as f:
                rest = f.read()
            with open(hba, "w") as f:
                f.write("\n".join(hba_first) + "\n" + rest)
        self.start()

    def _tls_path(self, name):
        return os.path.join(self.dir, name)

    def set_tls(self, cert, key, ca):
        """Install the server's certificate, key and CA (read at start and at reload)."""
        owner = pwd.getpwnam("nobody").pw_uid if self.as_root else None
        for src, name in ((cert, "server.crt"), (key, "server.key"), (ca, "ca.crt")):
            _install(src, self._tls_path(name), owner)

    def reload(self):
        c = self.connect()
        try:
            c.cursor().execute("SELECT pg_reload_conf()")
        finally:
            c.close()

    def _run(self, args, timeout=60, check=True):
        cmd = [os.path.join(self.bindir, args[0])] + args[1:]
        if self.as_root:
            cmd = ["runuser", "-u", "nobody", "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed: %s %s" % (args[0], p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def start(self):
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off%s" % (
            self.port, self.dir, self.ssl_opts)
        self._run(["pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.dir, "log"),
                   "-w", "-t", "60", "start"], timeout=90)

    def stop(self, mode="fast"):
        self._run(["pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"],
                  timeout=90, check=False)

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, db="postgres"):
        import psycopg2
        # Over the socket (trust): the TCP rules may demand TLS or a client certificate.
        c = psycopg2.connect(host=self.dir, port=self.port, user=USER, dbname=db, connect_timeout=5)
        c.autocommit = True
        return c

    def create_db(self, name):
        c = self.connect()
        try:
            c.cursor().execute('CREATE DATABASE "%s"' % name)
        finally:
            c.close()

    def url(self, db, scheme="postgresql+psycopg2", password=PASSWORD):
        return "%s://%s:%s@127.0.0.1:%d/%s" % (scheme, USER, urllib.parse.quote(password, safe=""),
                                                self.port, db)

    def socket_url(self, db):
        """The UNIX socket through the `host` option (as libpq reads it)."""
        return "postgresql://%s@/%s?host=%s&port=%d" % (USER, db, self.dir, self.port)

    param = "%s"


class MariaServer:
    engine = "mysql"

    def __init__(self, tls=None):
        """`tls`: (certificate, key, CA) files to serve TLS with."""
        self.mariadbd = shutil.which("mariadbd") or ("/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None)
        install = shutil.which("mariadb-install-db")
        if not self.mariadbd or not install:
            unavailable("MariaDB is not installed (make db-servers)")
        self.dir = tempfile.mkdtemp(prefix="lrsmy", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "my.sock")
        self.port = _free_port()
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        p = subprocess.run([install, "--no-defaults", "--datadir=" + self.data, "--user=" + self.user,
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           capture_output=True, text=True, timeout=180)
        if p.returncode != 0:
            raise RuntimeError("mariadb-install-db failed: %s %s" % (p.stdout[-2000:], p.stderr[-2000:]))
        self.proc = None
        self.ssl_args = []
        if tls:
            self.set_tls(*tls)
            self.ssl_args = ["--ssl-cert=" + self._tls_path("server.crt"),
                             "--ssl-key=" + self._tls_path("server.key"),
                             "--ssl-ca=" + self._tls_path("ca.crt")]
        self.start()
        import pymysql
        c = pymysql.connect(unix_socket=self.sock, user="root", autocommit=True)
        try:
            cur = c.cursor()
            cur.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (USER, PASSWORD))
            cur.execute("CREATE USER %s@'localhost' IDENTIFIED BY %s", (USER, PASSWORD))
            cur.execute("GRANT ALL ON *.* TO %s@'127.0.0.1'", (USER,))
            cur.execute("GRANT ALL ON *.* TO %s@'localhost'", (USER,))
        finally:
            c.close()

    def start(self):
        log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(
            [self.mariadbd, "--no-defaults", "--datadir=" + self.data, "--socket=" + self.sock,
             "--port=%d" % self.port, "--bind-address=127.0.0.1", "--user=" + self.user,
             "--pid-file=" + os.path.join(self.dir, "pid"), "--skip-log-bin",
             "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=2",
             "--tmpdir=" + self.dir, "--log-error=" + os.path.join(self.dir, "err.log")]
            + self.ssl_args,
            stdout=log, stderr=log)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited: " + open(os.path.join(self.dir, "err.log")).read()[-2000:])
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        _poll(up, 60, "mariadbd")

    def _tls_path(self, name):
        return os.path.join(self.dir, name)

    def set_tls(self, cert, key, ca):
        """Install the server's certificate, key and CA (read at start and at reload)."""
        for src, name in ((cert, "server.crt"), (key, "server.key"), (ca, "ca.crt")):
            _install(src, self._tls_path(name))

    def reload(self):
        c = self.root()
        try:
            c.cursor().execute("FLUSH SSL")
        finally:
            c.close()

    def root(self):
        import pymysql
        return pymysql.connect(unix_socket=self.sock, user="root", autocommit=True)

    def stop(self, mode="fast"):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if mode == "immediate" else signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, db=None):
        import pymysql
        c = pymysql.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                            database=db, autocommit=True, connect_timeout=5)
        return c

    def create_db(self, name):
        c = self.connect()
        try:
            c.cursor().execute("CREATE DATABASE `%s`" % name)
        finally:
            c.close()

    def url(self, db, scheme="mysql+pymysql", password=PASSWORD):
        return "%s://%s:%s@127.0.0.1:%d/%s" % (scheme, USER, urllib.parse.quote(password, safe=""),
                                                self.port, db)

    def socket_url(self, db):
        return "mysql+pymysql://%s:%s@localhost/%s?unix_socket=%s" % (
            USER, urllib.parse.quote(PASSWORD, safe=""), db, self.sock)

    param = "%s"


_ENGINES = {"postgresql": PgServer, "mariadb": MariaServer}


def start(kind, **kw):
    try:
        return _ENGINES[kind](**kw)
    except (FileNotFoundError, RuntimeError, AssertionError) as e:
        unavailable("could not start %s: %s" % (kind, e))


def records(srv, db):
    """Every record: dict(id, task_id, name, host, events=[(name, ts text, event id)], params={})."""
    c = srv.connect(db)
    try:
        cur = c.cursor()
        cur.execute("SELECT id, task_id, name, host FROM tasks ORDER BY id")
        out = []
        for rid, task_id, name, host in cur.fetchall():
            cur.execute("SELECT event_name, ts, id FROM task_events WHERE task_id = %s ORDER BY id", (rid,))
            evs = [(e, str(ts), i) for e, ts, i in cur.fetchall()]
            cur.execute("SELECT name, value FROM task_parameters WHERE task_id = %s", (rid,))
            params = dict(cur.fetchall())
            out.append(dict(id=rid, task_id=task_id, name=name, host=host, events=evs, params=params))
        return out
    finally:
        c.close()


def count(srv, db, sql):
    c = srv.connect(db)
    try:
        cur = c.cursor()
        cur.execute(sql)
        return cur.fetchone()[0]
    finally:
        c.close()


def catalogue(srv, db):
    """The tables as the server describes them: columns (type, length, nullability,
    default), indexes and constraints, comparable between two databases."""
    c = srv.connect(db)
    try:
        cur = c.cursor()
        if srv.engine == "postgresql":
            schema_cond = "table_schema = current_schema()"
        else:
            schema_cond = "table_schema = DATABASE()"
        cur.execute(
            "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, "
            "is_nullable, column_default FROM information_schema.columns WHERE " + schema_cond +
            " ORDER BY table_name, ordinal_position")
        cols = [tuple(str(x) for x in r) for r in cur.fetchall()]
        cur.execute(
            "SELECT tc.table_name, tc.constraint_type, kcu.column_name, kcu.ordinal_position "
            "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu "
            "ON kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name "
            "AND kcu.table_schema = tc.table_schema WHERE tc." + schema_cond +
            " ORDER BY 1, 2, 3")
        cons = [tuple(str(x) for x in r) for r in cur.fetchall()]
        if srv.engine == "postgresql":
            cur.execute("SELECT tablename, indexname, indexdef FROM pg_indexes "
                        "WHERE schemaname = current_schema() ORDER BY 1, 2")
        else:
            cur.execute("SELECT table_name, index_name, seq_in_index, column_name, non_unique "
                        "FROM information_schema.statistics WHERE " + schema_cond + " ORDER BY 1, 2, 3")
        idx = [tuple(str(x) for x in r) for r in cur.fetchall()]
        if srv.engine == "postgresql":
            tables = []
        else:
            cur.execute("SELECT table_name, engine, table_collation FROM information_schema.tables "
                        "WHERE " + schema_cond + " ORDER BY 1")
            tables = [tuple(str(x) for x in r) for r in cur.fetchall()]
        return dict(columns=cols, constraints=cons, indexes=idx, tables=tables)
    finally:
        c.close()
