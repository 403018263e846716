namespace BottleneckPipeline.Index;

/// <summary>
/// The index's tables. Stages talk to each other through these, and only these. Each version is
/// the step from the one before; an index is brought up to date by running the steps it lacks, so
/// an index written by an older build keeps working. A step is never edited once released.
/// </summary>
internal static class Schema
{
    /// <summary>Steps[v] brings an index from version v to v + 1.</summary>
    public static readonly string[] Steps = [V1, V2];

    public const string V1 = """
        -- Classes in label order (ordinal by folder name); label_id is the head's output index.
        CREATE TABLE classes (
            label_id INTEGER PRIMARY KEY,
            name     TEXT NOT NULL UNIQUE
        );

        -- Every image file found, keyed by its path relative to dataset.root ('/' separators).
        -- size and mtime_ns let a re-ingest skip re-hashing unchanged files.
        CREATE TABLE files (
            rel_path   TEXT PRIMARY KEY,
            class      TEXT NOT NULL,
            size       INTEGER NOT NULL,
            mtime_ns   INTEGER NOT NULL,
            content_id TEXT NOT NULL,       -- lowercase hex SHA-256 of the bytes
            width      INTEGER NOT NULL,
            height     INTEGER NOT NULL,
            format     TEXT NOT NULL        -- jpeg, png, gif, bmp, webp, tiff
        );
        CREATE INDEX files_content ON files(content_id);

        -- One row per distinct (content, class): the training examples. Same bytes twice in one class
        -- are one example; same bytes in two classes are a conflict (conflict = 1, kept out of training
        -- unless dataset.include_conflicts). split is 'train', 'validation' or 'test', drawn from a hash
        -- of the content id (or of the group key), so it never moves when other files come and go.
        CREATE TABLE examples (
            content_id TEXT NOT NULL,
            class      TEXT NOT NULL,
            split      TEXT NOT NULL CHECK (split IN ('train', 'validation', 'test')),
            group_key  TEXT,
            conflict   INTEGER NOT NULL DEFAULT 0,
            rel_path   TEXT NOT NULL,       -- one representative file (the first by path)
            PRIMARY KEY (content_id, class)
        );
        CREATE INDEX examples_split ON examples(split);

        -- Files refused by Ingest before decoding, with a reason a person can act on.
        CREATE TABLE rejects (
            rel_path TEXT PRIMARY KEY,
            reason   TEXT NOT NULL
        );

        -- Images Extract could not use: not trained on, listed in reports (kind: see V2).
        CREATE TABLE quarantine (
            content_id TEXT PRIMARY KEY,
            rel_path   TEXT NOT NULL,
            reason     TEXT NOT NULL,
            stage      TEXT NOT NULL,
            at         TEXT NOT NULL
        );

        -- Provenance: every stage run, with the hash of the config it ran with and how it ended.
        CREATE TABLE runs (
            run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
            stage       TEXT NOT NULL,
            started_at  TEXT NOT NULL,
            ended_at    TEXT,
            config_hash TEXT NOT NULL,
            outcome     TEXT NOT NULL DEFAULT 'running',  -- running, ok, failed (a crash leaves 'running')
            detail      TEXT
        );

        -- Small key/value facts (dataset root at last ingest, and so on).
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """;

    /// <summary>
    /// The quarantine's kind, so that Ingest releases rows by kind instead of matching Extract's
    /// message text. Rows written by version 1 carried their kind only in that text (the two
    /// messages below, as version 1 wrote them); every other row was a decode failure.
    /// </summary>
    public const string V2 = """
        -- decode: the content is not a usable image (stays); changed, missing: the file's state at
        -- Extract time (released by the next Ingest, which has looked at every file again).
        ALTER TABLE quarantine ADD COLUMN kind TEXT NOT NULL DEFAULT 'decode' CHECK (kind IN ('decode', 'changed', 'missing'));
        UPDATE quarantine SET kind = 'changed' WHERE reason = 'changed since ingest: re-run Ingest';
        UPDATE quarantine SET kind = 'missing' WHERE reason = 'file deleted since ingest: re-run Ingest';
        """;
}
