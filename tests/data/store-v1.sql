-- A conjflow store at schema version 1, as conjflow created it before
-- bindings carried MAC addresses and node ports were stored.  The store's
-- unit tests build a file from this script, add object records, and check
-- that opening it migrates it to the current version, keeping everything.
PRAGMA journal_mode = WAL;
PRAGMA application_id = 1128680535;
BEGIN;
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value);
CREATE TABLE namespaces (
    name TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL,
    manifest TEXT);
CREATE TABLE pods (
    ns TEXT NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    manifest TEXT,
    PRIMARY KEY (ns, name));
CREATE TABLE policies (
    ns TEXT NOT NULL,
    name TEXT NOT NULL,
    id INTEGER NOT NULL UNIQUE,
    data BLOB NOT NULL,
    manifest TEXT,
    PRIMARY KEY (ns, name));
CREATE TABLE nodes (
    name TEXT PRIMARY KEY NOT NULL,
    id INTEGER NOT NULL UNIQUE,
    data BLOB NOT NULL,
    manifest TEXT);
CREATE TABLE changes (
    rowid INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    ns TEXT,
    name TEXT NOT NULL,
    deleted INTEGER NOT NULL);
CREATE INDEX changes_seq ON changes (seq);
CREATE TABLE bindings (
    node TEXT NOT NULL,
    pod TEXT NOT NULL,
    ofport INTEGER NOT NULL,
    PRIMARY KEY (node, pod));
INSERT INTO meta (key, value) VALUES ('seq', 3), ('feed_floor', 0);
INSERT INTO changes (seq, kind, ns, name, deleted) VALUES
    (1, 0, NULL, 'x', 0),
    (2, 1, 'x', 'web', 0),
    (3, 2, 'x', 'allow-web', 0);
INSERT INTO bindings (node, pod, ofport) VALUES ('node1', 'x/web', 3);
COMMIT;
PRAGMA user_version = 1;
