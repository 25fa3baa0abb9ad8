"""Task history over TLS, and through a percent-encoded UNIX socket host, with throwaway
PostgreSQL and MariaDB servers serving certificates of a CA made for the test
(dbservers.Certs, the openssl CLI).

That TLS is in use is proven from the server's side: PostgreSQL's pg_stat_ssl for our
sessions; on MariaDB, accounts created `REQUIRE SSL` / `REQUIRE X509` that refuse any
connection without TLS (or without a client certificate).

The server certificate names 127.0.0.1 only. verify-full / VERIFY_IDENTITY therefore
fails for `localhost`; and when the server starts serving a certificate for another
name while luigid-rs runs, its reconnections fail with the reason in the log while the
scheduler keeps answering and events wait in the queue, to be written once the right
certificate is back.
"""
import os
import shutil
import sys
import tempfile
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "history_compat"))

pytest.importorskip("luigi")

import dbservers  # noqa: E402
from dbservers import PASSWORD, USER  # noqa: E402
from histlib import get_json, metric, poll, rs_binary, start_luigid_rs  # noqa: E402
from test_history_servers import _start_fails, cfg  # noqa: E402

PW = urllib.parse.quote(PASSWORD, safe="")


@pytest.fixture(autouse=True)
def _binary():
    if not os.path.exists(rs_binary()):
        pytest.fail("luigid-rs binary not built: %s (make build)" % rs_binary())


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="lrscerts", dir="/tmp")
    c = dbservers.Certs(d)
    c.good = c.server("good", ["IP:127.0.0.1"])
    c.wrong_name = c.server("wrong", ["DNS:db.invalid"])
    c.client_cert = c.client("client", USER)
    c.other = dbservers.Certs(os.path.join(d, "other"), ca_name="another CA")
    yield c
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def pg(certs):
    srv = dbservers.start("postgresql", tls=(certs.good[0], certs.good[1], certs.ca), hba_first=[
        # a client certificate signed by our CA, on top of the password
        "hostssl certdb all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca",
        "host certdb all 127.0.0.1/32 reject",
        # TLS or nothing
        "hostnossl tlsonly all 127.0.0.1/32 reject",
    ])
    for name in ("certdb", "tlsonly"):
        srv.create_db(name)
    yield srv
    srv.destroy()


@pytest.fixture(scope="module")
def maria(certs):
    srv = dbservers.start("mariadb", tls=(certs.good[0], certs.good[1], certs.ca))
    c = srv.root()
    try:
        cur = c.cursor()
        for user, req in (("luigi_tls", "SSL"), ("luigi_x509", "X509")):
            cur.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s REQUIRE " + req, (user, PASSWORD))
            cur.execute("GRANT ALL ON *.* TO %s@'127.0.0.1'", (user,))
    finally:
        c.close()
    yield srv
    srv.destroy()


_seq = [0]


def new_db(srv, stem):
    _seq[0] += 1
    name = "%s_%d" % (stem, _seq[0])
    srv.create_db(name)
    return name


def pg_url(srv, db, query, host="127.0.0.1"):
    return "postgresql+psycopg2://%s:%s@%s:%d/%s?%s" % (USER, PW, host, srv.port, db, query)


def my_url(srv, db, query, user="luigi_tls", host="127.0.0.1"):
    return "mysql+pymysql://%s:%s@%s:%d/%s?%s" % (user, PW, host, srv.port, db, query)


def pg_sessions(srv, db):
    """(ssl, client certificate's DN, client address) of luigid-rs's sessions on `db`."""
    c = srv.connect()
    try:
        cur = c.cursor()
        cur.execute("SELECT s.ssl, s.client_dn, host(a.client_addr) FROM pg_stat_ssl s "
                    "JOIN pg_stat_activity a USING (pid) "
                    "WHERE a.datname = %s AND a.application_name = 'luigid-rs'", (db,))
        return sorted(cur.fetchall(), key=repr)
    finally:
        c.close()


def record_one(url, workdir, family):
    """Start luigid-rs with history at `url`, add a task, read it back through the
    history page; return the running server."""
    srv = start_luigid_rs(workdir, cfg(url))
    try:
        srv.rpc("add_task", {"task_id": family + "_1", "worker": "w", "status": "PENDING",
                             "family": family, "params": {}})
        assert get_json(srv, "/history/by_name/" + family)["total"] == 1
    except BaseException:
        srv.stop()
        raise
    return srv


def test_postgres_sslmodes_over_tls(pg, certs, tmp_path):
    cases = [
        # (query, what pg_stat_ssl must show for both of our sessions)
        ("", True),  # libpq's default, prefer: TLS when the server offers it
        ("sslmode=require", True),
        ("sslmode=verify-ca&sslrootcert=" + certs.ca, True),
        ("sslmode=verify-full&sslrootcert=" + certs.ca, True),
        ("sslmode=disable", False),
    ]
    for i, (query, ssl) in enumerate(cases):
        name = new_db(pg, "tls")
        srv = record_one(pg_url(pg, name, query), tmp_path / str(i), "T")
        try:
            sessions = pg_sessions(pg, name)
            # the writer's connection and the pages' connection
            assert sessions == [(ssl, None, "127.0.0.1")] * 2, (query, sessions)
        finally:
            srv.stop()


def test_postgres_verify_ca_checks_the_chain_not_the_name(pg, certs, tmp_path):
    # 'localhost' is not in the certificate: verify-ca does not care, verify-full does
    name = new_db(pg, "vca")
    srv = record_one(pg_url(pg, name, "sslmode=verify-ca&sslrootcert=" + certs.ca, host="localhost"),
                     tmp_path / "ok", "V")
    srv.stop()
    out = _start_fails(tmp_path / "full", pg_url(
        pg, name, "sslmode=verify-full&sslrootcert=" + certs.ca, host="localhost"))
    assert "task history database" in out and "not valid for name" in out, out
    assert PASSWORD not in out and PW not in out, out
    # a chain from another CA is refused by verify-ca, even for the right name
    out = _start_fails(tmp_path / "ca", pg_url(pg, name, "sslmode=verify-ca&sslrootcert=" + certs.other.ca))
    assert "UnknownIssuer" in out or "unknown issuer" in out.lower(), out
    # and require without a root certificate accepts it (encryption only, as libpq)
    srv = record_one(pg_url(pg, name, "sslmode=require"), tmp_path / "req", "V2")
    srv.stop()


def test_postgres_allow_retries_with_tls_and_disable_is_refused(pg, tmp_path):
    # 'tlsonly' refuses connections without TLS: allow tries without, then with TLS
    srv = record_one(pg_url(pg, "tlsonly", "sslmode=allow"), tmp_path / "allow", "A")
    try:
        assert pg_sessions(pg, "tlsonly") == [(True, None, "127.0.0.1")] * 2
    finally:
        srv.stop()
    out = _start_fails(tmp_path / "off", pg_url(pg, "tlsonly", "sslmode=disable"))
    assert "no encryption" in out and "task history database" in out, out


def test_postgres_client_certificate(pg, certs, tmp_path):
    cert, key = certs.client_cert
    out = _start_fails(tmp_path / "none", pg_url(pg, "certdb", "sslmode=require"))
    assert "certificate" in out, out
    srv = record_one(pg_url(pg, "certdb", "sslmode=verify-full&sslrootcert=%s&sslcert=%s&sslkey=%s"
                            % (certs.ca, cert, key)), tmp_path / "cert", "C")
    try:
        assert pg_sessions(pg, "certdb") == [(True, "/CN=" + USER, "127.0.0.1")] * 2
    finally:
        srv.stop()
    # libpq refuses a key others may read; so do we, naming the option and the file
    loose = str(tmp_path / "loose.key")
    shutil.copyfile(key, loose)
    os.chmod(loose, 0o644)
    out = _start_fails(tmp_path / "loose", pg_url(pg, "certdb", "sslmode=require&sslcert=%s&sslkey=%s"
                                                   % (cert, loose)))
    assert "sslkey " + loose in out and "read by others" in out, out
    out = _start_fails(tmp_path / "missing", pg_url(pg, "certdb", "sslmode=verify-ca&sslrootcert=/nonexistent/ca.crt"))
    assert "sslrootcert /nonexistent/ca.crt" in out, out


def test_postgres_percent_encoded_socket_host(pg, tmp_path):
    name = new_db(pg, "sock")
    sockdir = urllib.parse.quote(pg.dir, safe="")
    assert sockdir.startswith("%2F")
    # sslmode is ignored on a socket, as libpq ignores it
    url = "postgresql://%s@%s:%d/%s?sslmode=require" % (USER, sockdir, pg.port, name)
    srv = record_one(url, tmp_path, "S")
    try:
        # a socket session has no client address
        assert pg_sessions(pg, name) == [(False, None, None)] * 2
    finally:
        srv.stop()


def test_mariadb_ssl_options_over_tls(maria, certs, tmp_path):
    """luigi_tls is created REQUIRE SSL: every URL that connects used TLS."""
    cert, key = certs.client_cert
    cases = [
        ("", "luigi_tls"),  # PyMySQL's default: TLS when the server offers it
        ("ssl=true", "luigi_tls"),
        ("ssl_mode=REQUIRED", "luigi_tls"),
        ("ssl_ca=" + certs.ca, "luigi_tls"),  # chain and name, as PyMySQL with a CA
        ("ssl_ca=%s&ssl_check_hostname=false" % certs.ca, "luigi_tls"),
        ("ssl_mode=VERIFY_IDENTITY&ssl_ca=" + certs.ca, "luigi_tls"),
        ("ssl_ca=%s&ssl_cert=%s&ssl_key=%s" % (certs.ca, cert, key), "luigi_x509"),
    ]
    for i, (query, user) in enumerate(cases):
        name = new_db(maria, "tls")
        srv = record_one(my_url(maria, name, query, user=user), tmp_path / str(i), "T")
        srv.stop()
    name = new_db(maria, "plain")
    out = _start_fails(tmp_path / "off", my_url(maria, name, "ssl_disabled=true"))
    assert "task history database" in out and "luigi_tls" in out, out
    out = _start_fails(tmp_path / "nocert", my_url(maria, name, "ssl_ca=" + certs.ca, user="luigi_x509"))
    assert "task history database" in out and "luigi_x509" in out, out


def test_mariadb_verify_ca_checks_the_chain_not_the_name(maria, certs, tmp_path):
    name = new_db(maria, "vca")
    srv = record_one(my_url(maria, name, "ssl_mode=VERIFY_CA&ssl_ca=" + certs.ca, host="localhost"),
                     tmp_path / "ok", "V")
    srv.stop()
    out = _start_fails(tmp_path / "full", my_url(maria, name, "ssl_ca=" + certs.ca, host="localhost"))
    assert "task history database" in out and "not valid for name" in out.replace("NotValidForName", "not valid for name"), out
    assert PASSWORD not in out and PW not in out, out


def test_wrong_name_while_running_queues_events_until_fixed(pg, maria, certs, tmp_path):
    """verify-full / VERIFY_IDENTITY: the server starts serving a certificate for
    another name and drops our sessions; reconnecting fails with the reason in the log,
    the scheduler keeps answering, and the events are written once the right
    certificate is back."""
    for db, url_of in ((pg, lambda n: pg_url(pg, n, "sslmode=verify-full&sslrootcert=" + certs.ca)),
                       (maria, lambda n: my_url(maria, n, "ssl_mode=VERIFY_IDENTITY&ssl_ca=" + certs.ca))):
        name = new_db(db, "swap")
        srv = start_luigid_rs(tmp_path / db.engine, cfg(url_of(name)))
        try:
            srv.rpc("add_task", {"task_id": "W_0", "worker": "w", "status": "PENDING", "family": "W"})
            assert get_json(srv, "/history/by_name/W")["total"] == 1
            db.set_tls(certs.wrong_name[0], certs.wrong_name[1], certs.ca)
            db.reload()
            _kill_sessions(db, name)
            for i in range(1, 21):
                srv.rpc("add_task", {"task_id": "W_%d" % i, "worker": "w", "status": "PENDING",
                                     "family": "W"})
            poll(lambda: "not valid for name" in srv.log_tail(20000).replace("NotValidForName", "not valid for name"),
                 30, "the certificate's fault in the log")
            # the scheduler answers while the events wait
            assert len(srv.rpc("task_list", {"status": "PENDING"})) == 21
            assert dbservers.count(db, name, "SELECT COUNT(*) FROM task_events") == 1
            db.set_tls(certs.good[0], certs.good[1], certs.ca)
            db.reload()
            poll(lambda: dbservers.count(db, name, "SELECT COUNT(*) FROM task_events") == 21, 60,
                 "the queued events written with the right certificate back")
            assert metric(srv, "luigid_history_dropped_events_total") == 0
            assert metric(srv, "luigid_history_write_errors_total") == 0
        finally:
            srv.stop()


def _kill_sessions(db, name):
    if db.engine == "postgresql":
        c = db.connect()
        try:
            c.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s AND application_name = 'luigid-rs'", (name,))
        finally:
            c.close()
    else:
        c = db.root()
        try:
            cur = c.cursor()
            cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s", (name,))
            for (i,) in cur.fetchall():
                cur.execute("KILL %d" % i)
        finally:
            c.close()
