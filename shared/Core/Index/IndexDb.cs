using BottleneckPipeline.Runtime;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Index;

/// <summary>
/// The workspace's SQLite index: which files exist, their content ids, labels and splits, what was
/// rejected or quarantined, and the runs of every stage. WAL mode and a busy timeout let a reader
/// (a later stage, or a person with sqlite3) look while a writer works.
/// </summary>
public sealed class IndexDb : IDisposable
{
    public static int SchemaVersion => Schema.Steps.Length;

    public SqliteConnection Connection { get; }
    public string Path { get; }

    private IndexDb(SqliteConnection connection, string path)
    {
        Connection = connection;
        Path = path;
    }

    /// <summary>Opens (creating if needed) the index and brings its schema up to date. Transient
    /// errors of a shared filesystem (busy, IO) are retried.</summary>
    public static IndexDb Open(string path, bool create = true)
    {
        if (!create && !File.Exists(path))
            throw new InputException($"index not found: {path}. Run the Ingest stage first (make ingest).");
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
        return TransientIo.Run(() => Connect(path, cs, conn =>
        {
            Exec(conn, "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
            Check(conn, path);
            Migrate(conn, path);
        }));
    }

    /// <summary>
    /// Opens the index for reading only, for Extract shards: many of them, on several machines,
    /// read it at once while no stage writes it (they hold the workspace lock shared). WAL's
    /// shared-memory file cannot be shared across machines on NFS, so the file is opened as
    /// immutable (no locks, no -shm), unless a crashed writer left changes in the -wal file,
    /// which only a normal open sees.
    /// </summary>
    public static IndexDb OpenReadOnly(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new InputException($"index not found: {path}. Run the Ingest stage first (make ingest).");
        var wal = new FileInfo(full + "-wal");
        var dataSource = wal.Exists && wal.Length > 0
            ? full
            : "file:" + Uri.EscapeDataString(full).Replace("%2F", "/", StringComparison.Ordinal) + "?immutable=1";
        var cs = new SqliteConnectionStringBuilder { DataSource = dataSource, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString();
        return TransientIo.Run(() => Connect(path, cs, conn =>
        {
            Check(conn, path);
            var version = Convert.ToInt32(Scalar(conn, "PRAGMA user_version;"));
            if (version != SchemaVersion)
                throw new InputException($"index {path} has schema version {version}, this build reads {SchemaVersion}. Run the Ingest stage (make ingest) with this build first.");
        }));
    }

    private static IndexDb Connect(string path, string connectionString, Action<SqliteConnection> prepare)
    {
        var conn = new SqliteConnection(connectionString);
        try
        {
            conn.Open();
            prepare(conn);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 26 or 11) // SQLITE_NOTADB, SQLITE_CORRUPT
        {
            conn.Dispose();
            throw new InputException($"index {path} is not a readable SQLite database ({e.Message}). Delete it and run Ingest again; the bottleneck cache is kept.", e);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
        return new IndexDb(conn, path);
    }

    private static void Check(SqliteConnection conn, string path)
    {
        var check = Scalar(conn, "PRAGMA quick_check;") as string;
        if (check != "ok")
            throw new InputException($"index {path} is corrupt ({check}). Delete it and run Ingest again; the bottleneck cache is kept.");
    }

    private static void Migrate(SqliteConnection conn, string path)
    {
        var version = Convert.ToInt32(Scalar(conn, "PRAGMA user_version;"));
        if (version > SchemaVersion)
            throw new InputException($"index {path} has schema version {version}, newer than this build understands ({SchemaVersion}). Use a newer build, or delete the index and re-run Ingest.");
        if (version == SchemaVersion) return;
        using var tx = conn.BeginTransaction();
        for (var step = version; step < SchemaVersion; step++) Exec(conn, Schema.Steps[step], tx);
        Exec(conn, $"PRAGMA user_version = {SchemaVersion};", tx);
        tx.Commit();
    }

    public SqliteTransaction Begin() => Connection.BeginTransaction();

    public SqliteCommand Command(string sql, SqliteTransaction? tx = null)
    {
        var cmd = Connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    public int Exec(string sql, SqliteTransaction? tx = null) => Exec(Connection, sql, tx);

    public object? Scalar(string sql, SqliteTransaction? tx = null)
    {
        using var cmd = Command(sql, tx);
        return cmd.ExecuteScalar();
    }

    /// <summary>A value Ingest recorded in the meta table (index_hash, dataset_root, last_ingest_at); null when absent.</summary>
    public string? Meta(string key)
    {
        using var cmd = Command("SELECT value FROM meta WHERE key = $k;");
        cmd.Parameters.AddWithValue("$k", key);
        return cmd.ExecuteScalar() as string;
    }

    private static int Exec(SqliteConnection c, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    public void Dispose() => Connection.Dispose();
}
